#include "published_config.hpp"

#include "common/change_batch.hpp"
#include "extension/pg_guard.hpp"
#include "worker_wait.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"
}

namespace livesync::extension::worker {

namespace common = livesync::common;

namespace {
std::string text_column(const std::vector<common::Column> &cols, const char *name) {
    for (const auto &c : cols)
        if (c.name == name && c.value.kind == common::Value::Kind::Text) return c.value.s;
    return {};
}
}  // namespace

void PublishedConfig::add_table(const std::string &schema, const std::string &table) {
    std::string json = "{\"schema\":";
    common::append_json_string(json, schema);
    json += ",\"table\":";
    common::append_json_string(json, table);
    json += '}';
    pending_.push_back({false, schema + "." + table, std::move(json)});
}

void PublishedConfig::apply(std::string_view change_msgpack) {
    std::string error;
    auto change = common::decode_change(change_msgpack, &error);
    if (!change) throw TransientError("malformed livesync.tables change: " + error);
    if (change->op == common::Op::Truncate) {
        pending_.push_back({true, {}, {}});
        return;
    }
    if (!change->old_values.empty() || change->op == common::Op::Delete) {
        std::string schema = text_column(change->old_values, "schema_name");
        std::string table = text_column(change->old_values, "table_name");
        if (!table.empty()) pending_.push_back({true, schema + "." + table, {}});
    }
    if (change->op != common::Op::Delete)
        add_table(text_column(change->new_values, "schema_name"), text_column(change->new_values, "table_name"));
}

void PublishedConfig::append_commands(const std::string &hash_key, std::vector<Command> &commands) const {
    for (const Op &op : pending_) {
        if (op.remove && op.field.empty()) commands.push_back({"DEL", hash_key});
        else if (op.remove) commands.push_back({"HDEL", hash_key, op.field});
        else commands.push_back({"HSET", hash_key, op.field, op.value});
    }
}

void PublishedConfig::seed_if_missing(RedisLink &redis, const std::string &hash_key) {
    Reply exists = redis.command({"EXISTS", hash_key});
    if (exists->type != REDIS_REPLY_INTEGER) throw TransientError("EXISTS " + hash_key + " failed");
    if (exists->integer != 0) return;

    // Rows are copied out of SPI into this context, then into C++ strings outside
    // pg_call (whose callable must own nothing with a destructor).
    MemoryContext rows_context = AllocSetContextCreate(TopMemoryContext, "livesync seed", ALLOCSET_SMALL_SIZES);
    char **schemas = nullptr, **tables = nullptr;
    uint64 count = 0;
    try {
        pg_call([&] {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            SPI_connect();
            PushActiveSnapshot(GetTransactionSnapshot());
            if (SPI_execute("SELECT to_regclass('livesync.tables') IS NOT NULL", true, 1) == SPI_OK_SELECT &&
                SPI_processed == 1 && strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0 &&
                SPI_execute("SELECT schema_name, table_name FROM livesync.tables", true, 0) == SPI_OK_SELECT) {
                count = SPI_processed;
                schemas = static_cast<char **>(MemoryContextAlloc(rows_context, sizeof(char *) * (count + 1)));
                tables = static_cast<char **>(MemoryContextAlloc(rows_context, sizeof(char *) * (count + 1)));
                for (uint64 i = 0; i < count; ++i) {
                    schemas[i] = MemoryContextStrdup(rows_context,
                                                     SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
                    tables[i] = MemoryContextStrdup(rows_context,
                                                    SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
                }
            }
            SPI_finish();
            PopActiveSnapshot();
            CommitTransactionCommand();
        });
    } catch (const PgError &e) {
        pg_call([] { AbortCurrentTransaction(); });
        MemoryContextDelete(rows_context);
        throw TransientError(std::string("cannot read livesync.tables: ") + e.what());
    }
    std::vector<Op> saved;
    saved.swap(pending_);
    for (uint64 i = 0; i < count; ++i) add_table(schemas[i], tables[i]);
    MemoryContextDelete(rows_context);
    if (!pending_.empty()) {
        std::vector<Command> commands;
        append_commands(hash_key, commands);
        for (Reply &r : redis.pipeline(commands))
            if (r->type == REDIS_REPLY_ERROR) throw TransientError("cannot seed " + hash_key);
    }
    pending_.swap(saved);
}

bool PublishedConfig::list_has(std::string_view list, std::string_view name) {
    size_t start = 0;
    while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string_view::npos) end = list.size();
        std::string_view item = list.substr(start, end - start);
        while (!item.empty() && (item.front() == ' ' || item.front() == '"')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '"')) item.remove_suffix(1);
        if (item == name) return true;
        start = end + 1;
    }
    return false;
}

}  // namespace livesync::extension::worker
