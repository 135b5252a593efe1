#include "published_config.hpp"

#include "common/change_batch.hpp"
#include "common/redis_keys.hpp"
#include "extension/pg_guard.hpp"
#include "worker_wait.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
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
                                        const std::string &tenant_column_json, const std::string &columns_json,
                                        const std::string &disabled_json) {
    std::string json = "{\"schema\":";
    common::append_json_string(json, schema);
    json += ",\"table\":";
    common::append_json_string(json, table);
    json += ",\"tenant_column\":" + tenant_column_json + ",\"columns\":" + columns_json;
    if (disabled_json != "null") json += ",\"disabled\":" + disabled_json;
    json += "}";
    return json;
}

std::string PublishedConfig::rule_json(const std::string &role, const std::string &schema, const std::string &table,
                                       const std::string &filter_json, const std::string &columns_json,
                                       const std::string &disabled_json) {
    std::string json = "{\"role\":";
    common::append_json_string(json, role);
    json += ",\"schema\":";
    common::append_json_string(json, schema);
    json += ",\"table\":";
    common::append_json_string(json, table);
    json += ",\"filter\":" + filter_json + ",\"columns\":" + columns_json;
    if (disabled_json != "null") json += ",\"disabled\":" + disabled_json;
    json += "}";
    return json;
}

void PublishedConfig::apply(std::string_view change_msgpack) {
    std::string error;
    auto change = common::decode_change(change_msgpack, &error);
    if (!change) throw TransientError("malformed config change: " + error);
    part_changed_ = true;
    if (change->op == common::Op::Truncate) {
        for (const common::RelationName &r : change->relations)
            if (r.schema == "livesync" && (r.table == "tables" || r.table == "rules")) {
                pending_.push_back({r.table == "tables" ? "tables" : "rules", true, {}, {}});
                (r.table == "tables" ? tables_ : rules_).clear();
                emptied_ = emptied_ || r.table == "tables";
            }
        return;
    }
    bool rules = change->table == "rules";
    const char *hash = rules ? "rules" : "tables";
    auto &now = rules ? rules_ : tables_;
    if (!change->old_values.empty() || change->op == common::Op::Delete) {
        const auto &old = change->old_values;
        if (!text_column(old, "table_name").empty()) {
            std::string field = rules ? rule_field(old) : table_field(old);
            now.erase(field);
            pending_.push_back({hash, true, std::move(field), {}});
        }
    }
    if (change->op == common::Op::Delete) return;
    const auto &row = change->new_values;
    std::string value =
        rules ? rule_json(text_column(row, "role_name"), text_column(row, "schema_name"), text_column(row, "table_name"),
                          json_column(row, "filter_tree", true), json_column(row, "columns"),
                          json_column(row, "disabled"))
              : table_json(text_column(row, "schema_name"), text_column(row, "table_name"),
                           json_column(row, "tenant_column"), json_column(row, "columns"),
                           json_column(row, "disabled"));
    std::string field = rules ? rule_field(row) : table_field(row);
    now[field] = value;
    pending_.push_back({hash, false, std::move(field), std::move(value)});
}

PublishedConfig::Version PublishedConfig::version_at(common::StreamId position) const {
    Version v;
    v.id = common::format_stream_id(position);
    v.fields.reserve(2 + 2 * (tables_.size() + rules_.size()));
    v.fields.push_back("v");
    v.fields.push_back("1");
    for (const auto &[field, json] : tables_) {
        v.fields.push_back("t:" + field);
        v.fields.push_back(json);
    }
    for (const auto &[field, json] : rules_) {
        v.fields.push_back("r:" + field);
        v.fields.push_back(json);
    }
    return v;
}

void PublishedConfig::end_part(common::StreamId position) {
    if (!part_changed_) return;
    part_changed_ = false;
    // IDs only grow: a part at or below the newest version (its changes were decoded
    // again after a restart of a worker whose Redis had lost the stream) comes right
    // after it, still before any later position.
    if (last_version_ && !(*last_version_ < position)) position = {last_version_->lsn, last_version_->seq + 1};
    versions_.push_back(version_at(position));
    last_version_ = position;
}

void PublishedConfig::load(RedisLink &redis, const std::string &prefix, common::StreamId tail) {
    set_prefix(prefix);
    part_changed_ = false;
    last_version_.reset();
    auto read_hash = [&](const std::string &key, std::map<std::string, std::string> &out) {
        out.clear();
        Reply r = redis.command({"HGETALL", key});
        if (r->type != REDIS_REPLY_ARRAY) throw TransientError("HGETALL " + key + " failed");
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            out[std::string(r->element[i]->str, r->element[i]->len)] =
                std::string(r->element[i + 1]->str, r->element[i + 1]->len);
    };
    read_hash(tables_key_, tables_);
    read_hash(rules_key_, rules_);

    Reply newest = redis.command({"XREVRANGE", history_key_, "+", "-", "COUNT", "1"});
    if (newest->type != REDIS_REPLY_ARRAY) throw TransientError("XREVRANGE " + history_key_ + " failed");
    std::vector<std::string> stored;
    if (newest->elements == 1 && newest->element[0]->type == REDIS_REPLY_ARRAY && newest->element[0]->elements == 2) {
        const redisReply *entry = newest->element[0];
        last_version_ = common::parse_stream_id(std::string_view(entry->element[0]->str, entry->element[0]->len));
        for (size_t i = 0; i < entry->element[1]->elements; ++i)
            stored.emplace_back(entry->element[1]->element[i]->str, entry->element[1]->element[i]->len);
    }
    common::StreamId from = tail;
    if (tail.lsn == 0 && tail.seq == 0) from = common::StreamId{GetXLogInsertRecPtr(), 0};
    Version now = version_at(from);
    if (last_version_ && now.fields == stored) return;
    end_part_at(from, std::move(now), redis);
}

void PublishedConfig::end_part_at(common::StreamId from, Version now, RedisLink &redis) {
    if (last_version_ && !(*last_version_ < from)) from = {last_version_->lsn, last_version_->seq + 1};
    now.id = common::format_stream_id(from);
    Command xadd{"XADD", history_key_, "MAXLEN", kVersionsKept, now.id};
    for (const std::string &f : now.fields) xadd.push_back(f);
    Reply r = redis.command(xadd);
    if (r->type == REDIS_REPLY_ERROR)
        throw TransientError("XADD " + history_key_ + " " + now.id + " failed: " + std::string(r->str, r->len));
    last_version_ = from;
}

void PublishedConfig::set_prefix(const std::string &prefix) {
    const common::RedisKeys keys(prefix);
    tables_key_ = keys.tables();
    rules_key_ = keys.rules();
    history_key_ = keys.config_history();
}

void PublishedConfig::append_commands(const std::string &prefix, std::vector<Command> &commands) {
    set_prefix(prefix);
    for (const Op &op : pending_) {
        const std::string &key = op.hash[0] == 't' ? tables_key_ : rules_key_;
        if (op.remove && op.field.empty()) commands.push_back({"DEL", key});
        else if (op.remove) commands.push_back({"HDEL", key, op.field});
        else commands.push_back({"HSET", key, op.field, op.value});
    }
    for (const Version &v : versions_) {
        Command xadd{"XADD", history_key_, "MAXLEN", kVersionsKept, v.id};
        for (const std::string &f : v.fields) xadd.push_back(f);
        commands.push_back(std::move(xadd));
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
              "SELECT schema_name || '.' || table_name, (json_build_object('schema', schema_name, 'table', table_name, "
              "'tenant_column', tenant_column, 'columns', columns)::jsonb || "
              "jsonb_strip_nulls(jsonb_build_object('disabled', to_jsonb(t) -> 'disabled')))::text FROM livesync.tables t");
    seed_hash(redis, rules_key_,
              "SELECT role_name || '|' || schema_name || '.' || table_name, (json_build_object('role', role_name, "
              "'schema', schema_name, 'table', table_name, 'filter', filter_tree::json, 'columns', columns)::jsonb || "
              "jsonb_strip_nulls(jsonb_build_object('disabled', to_jsonb(r) -> 'disabled')))::text "
              "FROM livesync.rules r");
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
