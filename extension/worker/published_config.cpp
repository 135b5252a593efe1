#include "published_config.hpp"

#include "common/change_batch.hpp"
#include "common/redis_keys.hpp"
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

const common::Value *column(const std::vector<common::Column> &cols, const char *name) {
    for (const auto &c : cols)
        if (c.name == name) return &c.value;
    return nullptr;
}

std::string text_column(const std::vector<common::Column> &cols, const char *name) {
    const common::Value *v = column(cols, name);
    return v && v->kind == common::Value::Kind::Text ? v->s : std::string();
}

// A column as JSON: NULL, a text array, a text, or (filter_tree) the JSON text itself.
std::string json_column(const std::vector<common::Column> &cols, const char *name, bool raw_json = false) {
    const common::Value *v = column(cols, name);
    if (v == nullptr || v->kind == common::Value::Kind::Null) return "null";
    if (raw_json && v->kind == common::Value::Kind::Text) return v->s;
    std::string out;
    common::append_value_json(out, *v);
    return out;
}

std::string table_field(const std::vector<common::Column> &row) {
    return text_column(row, "schema_name") + "." + text_column(row, "table_name");
}

std::string rule_field(const std::vector<common::Column> &row) {
    return text_column(row, "role_name") + "|" + table_field(row);
}

}  // namespace

std::string PublishedConfig::table_json(const std::string &schema, const std::string &table,
                                        const std::string &tenant_column_json, const std::string &columns_json) {
    std::string json = "{\"schema\":";
    common::append_json_string(json, schema);
    json += ",\"table\":";
    common::append_json_string(json, table);
    json += ",\"tenant_column\":" + tenant_column_json + ",\"columns\":" + columns_json + "}";
    return json;
}

std::string PublishedConfig::rule_json(const std::string &role, const std::string &schema, const std::string &table,
                                       const std::string &filter_json, const std::string &columns_json) {
    std::string json = "{\"role\":";
    common::append_json_string(json, role);
    json += ",\"schema\":";
    common::append_json_string(json, schema);
    json += ",\"table\":";
    common::append_json_string(json, table);
    json += ",\"filter\":" + filter_json + ",\"columns\":" + columns_json + "}";
    return json;
}

void PublishedConfig::apply(std::string_view change_msgpack) {
    std::string error;
    auto change = common::decode_change(change_msgpack, &error);
    if (!change) throw TransientError("malformed config change: " + error);
    if (change->op == common::Op::Truncate) {
        for (const common::RelationName &r : change->relations)
            if (r.schema == "livesync" && (r.table == "tables" || r.table == "rules"))
                pending_.push_back({r.table == "tables" ? "tables" : "rules", true, {}, {}});
        return;
    }
    bool rules = change->table == "rules";
    const char *hash = rules ? "rules" : "tables";
    if (!change->old_values.empty() || change->op == common::Op::Delete) {
        const auto &old = change->old_values;
        if (!text_column(old, "table_name").empty())
            pending_.push_back({hash, true, rules ? rule_field(old) : table_field(old), {}});
    }
    if (change->op == common::Op::Delete) return;
    const auto &row = change->new_values;
    std::string value =
        rules ? rule_json(text_column(row, "role_name"), text_column(row, "schema_name"), text_column(row, "table_name"),
                          json_column(row, "filter_tree", true), json_column(row, "columns"))
              : table_json(text_column(row, "schema_name"), text_column(row, "table_name"),
                           json_column(row, "tenant_column"), json_column(row, "columns"));
    pending_.push_back({hash, false, rules ? rule_field(row) : table_field(row), std::move(value)});
}

void PublishedConfig::set_prefix(const std::string &prefix) {
    const common::RedisKeys keys(prefix);
    tables_key_ = keys.tables();
    rules_key_ = keys.rules();
}

void PublishedConfig::append_commands(const std::string &prefix, std::vector<Command> &commands) {
    set_prefix(prefix);
    for (const Op &op : pending_) {
        const std::string &key = op.hash[0] == 't' ? tables_key_ : rules_key_;
        if (op.remove && op.field.empty()) commands.push_back({"DEL", key});
        else if (op.remove) commands.push_back({"HDEL", key, op.field});
        else commands.push_back({"HSET", key, op.field, op.value});
    }
}

void PublishedConfig::seed_hash(RedisLink &redis, const std::string &key, const char *query) {
    Reply exists = redis.command({"EXISTS", key});
    if (exists->type != REDIS_REPLY_INTEGER) throw TransientError("EXISTS " + key + " failed");
    if (exists->integer != 0) return;

    // Rows are copied out of SPI into this context, then into C++ strings outside
    // pg_call (whose callable must own nothing with a destructor).
    MemoryContext rows_context = AllocSetContextCreate(TopMemoryContext, "livesync seed", ALLOCSET_SMALL_SIZES);
    char **fields = nullptr, **values = nullptr;
    uint64 count = 0;
    try {
        pg_call([&] {
            SetCurrentStatementStartTimestamp();
            StartTransactionCommand();
            SPI_connect();
            PushActiveSnapshot(GetTransactionSnapshot());
            if (SPI_execute("SELECT to_regclass('livesync.rules') IS NOT NULL", true, 1) == SPI_OK_SELECT &&
                SPI_processed == 1 && strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "t") == 0 &&
                SPI_execute(query, true, 0) == SPI_OK_SELECT) {
                count = SPI_processed;
                fields = static_cast<char **>(MemoryContextAlloc(rows_context, sizeof(char *) * (count + 1)));
                values = static_cast<char **>(MemoryContextAlloc(rows_context, sizeof(char *) * (count + 1)));
                for (uint64 i = 0; i < count; ++i) {
                    fields[i] = MemoryContextStrdup(rows_context,
                                                    SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
                    values[i] = MemoryContextStrdup(rows_context,
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
        throw TransientError("cannot read the sync config for " + key + ": " + e.what());
    }
    std::vector<Command> commands;
    for (uint64 i = 0; i < count; ++i) commands.push_back({"HSET", key, fields[i], values[i]});
    try {
        if (!commands.empty())
            for (Reply &r : redis.pipeline(commands))
                if (r->type == REDIS_REPLY_ERROR) throw TransientError("cannot seed " + key);
    } catch (...) {
        MemoryContextDelete(rows_context);
        throw;
    }
    MemoryContextDelete(rows_context);
}

void PublishedConfig::seed_if_missing(RedisLink &redis, const std::string &prefix) {
    // The SQL builds the same fields as table_json / rule_json.
    set_prefix(prefix);
    seed_hash(redis, tables_key_,
              "SELECT schema_name || '.' || table_name, json_build_object('schema', schema_name, 'table', table_name, "
              "'tenant_column', tenant_column, 'columns', columns)::text FROM livesync.tables");
    seed_hash(redis, rules_key_,
              "SELECT role_name || '|' || schema_name || '.' || table_name, json_build_object('role', role_name, "
              "'schema', schema_name, 'table', table_name, 'filter', filter_tree::json, 'columns', columns)::text "
              "FROM livesync.rules");
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
