// The sync configuration as the sidecars read it, two Redis hashes:
//   <prefix>tables  "schema.table"      -> {"schema","table","tenant_column","columns"}
//   <prefix>rules   "role|schema.table" -> {"role","schema","table","filter":{tree},"columns"}
// The replicator updates them from the livesync.tables / livesync.rules changes it
// decodes, in the same MULTI/EXEC as the XADD that carries them, so the hashes always
// match the stream's newest entry.
// And every version of that config, whole, in the stream <prefix>config: one entry per
// transaction part that changed it, ID <commit lsn>-<part> (the part's own stream
// position), fields "v" -> "1", "t:<schema.table>" -> table JSON, "r:<role>|<table>" ->
// rule JSON, the newest kVersionsKept kept. A sidecar judges a replayed transaction by
// the version in force at its commit (sidecar/rules/config_history.hpp).
#pragma once

#include "redis_link.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/lsn.hpp"

namespace livesync::extension::worker {

class PublishedConfig {
public:
    // Takes a decoded change of livesync.tables or livesync.rules (msgpack change map).
    void apply(std::string_view change_msgpack);
    // The transaction part at `position` ends: when it changed the config, its version
    // is written with the part (append_commands).
    void end_part(common::StreamId position);
    bool dirty() const { return !pending_.empty() || !versions_.empty(); }
    // Whether a change since the last call emptied livesync.tables (a TRUNCATE, or the
    // tables' drop).
    bool take_emptied() {
        bool e = emptied_;
        emptied_ = false;
        return e;
    }
    // HSET / HDEL / DEL commands for the pending changes; they point into this object,
    // valid until clear_pending().
    void append_commands(const std::string &prefix, std::vector<Command> &commands);
    void clear_pending() {
        pending_.clear();
        versions_.clear();
    }
    // At session start, after seed_if_missing: reads the hashes (the config as of the
    // stream's tail) and the newest version; when <prefix>config has none, or an older
    // one that differs (written before an upgrade), writes the hashes as the version in
    // force from `tail` (from the current WAL position when the stream is empty).
    void load(RedisLink &redis, const std::string &prefix, common::StreamId tail);

    static constexpr const char *kVersionsKept = "1000";  // sidecar: kConfigVersionsKept

    // A Redis that lost a hash (new, or restarted without persistence) gets the current
    // config from the livesync.tables / livesync.rules rows.
    void seed_if_missing(RedisLink &redis, const std::string &prefix);

    // True when the comma-separated list names `name` (as output_plugin_libraries).
    static bool list_has(std::string_view list, std::string_view name);

    // The hash values, built in one place whether the row came from the stream or SQL.
    // tenant_column_json / columns_json / filter_json are JSON texts ("null" allowed).
    // disabled_json: "null", or why a schema change disabled the row (then in the value).
    static std::string table_json(const std::string &schema, const std::string &table,
                                  const std::string &tenant_column_json, const std::string &columns_json,
                                  const std::string &disabled_json = "null");
    static std::string rule_json(const std::string &role, const std::string &schema, const std::string &table,
                                 const std::string &filter_json, const std::string &columns_json,
                                 const std::string &disabled_json = "null");

private:
    struct Op {
        const char *hash;   // "tables" or "rules"
        bool remove;
        std::string field;  // empty with remove: TRUNCATE, the whole hash
        std::string value;  // JSON, for HSET
    };
    void seed_hash(RedisLink &redis, const std::string &key, const char *query);
    void set_prefix(const std::string &prefix);
    struct Version {
        std::string id;
        std::vector<std::string> fields;  // field, value, ...
    };
    Version version_at(common::StreamId position) const;
    void end_part_at(common::StreamId from, Version now, RedisLink &redis);
    std::vector<Op> pending_;
    std::vector<Version> versions_;  // to write with the next batch
    std::map<std::string, std::string> tables_, rules_;  // the config now: field -> JSON
    bool part_changed_ = false;
    bool emptied_ = false;
    std::optional<common::StreamId> last_version_;
    std::string tables_key_, rules_key_, history_key_;  // commands hold views of these
};

}  // namespace livesync::extension::worker
