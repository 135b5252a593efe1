// The sync configuration as the sidecars read it, two Redis hashes:
//   <prefix>tables  "schema.table"      -> {"schema","table","tenant_column","columns"}
//   <prefix>rules   "role|schema.table" -> {"role","schema","table","filter":{tree},"columns"}
// The replicator updates them from the livesync.tables / livesync.rules changes it
// decodes, in the same MULTI/EXEC as the XADD that carries them, so the hashes always
// match the stream's newest entry.
#pragma once

#include "redis_link.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace livesync::extension::worker {

class PublishedConfig {
public:
    // Takes a decoded change of livesync.tables or livesync.rules (msgpack change map).
    void apply(std::string_view change_msgpack);
    bool dirty() const { return !pending_.empty(); }
    // HSET / HDEL / DEL commands for the pending changes; they point into this object,
    // valid until clear_pending().
    void append_commands(const std::string &prefix, std::vector<Command> &commands);
    void clear_pending() { pending_.clear(); }

    // A Redis that lost a hash (new, or restarted without persistence) gets the current
    // config from the livesync.tables / livesync.rules rows.
    void seed_if_missing(RedisLink &redis, const std::string &prefix);

    // True when the comma-separated list names `name` (as output_plugin_libraries).
    static bool list_has(std::string_view list, std::string_view name);

    // The hash values, built in one place whether the row came from the stream or SQL.
    // tenant_column_json / columns_json / filter_json are JSON texts ("null" allowed).
    static std::string table_json(const std::string &schema, const std::string &table,
                                  const std::string &tenant_column_json, const std::string &columns_json);
    static std::string rule_json(const std::string &role, const std::string &schema, const std::string &table,
                                 const std::string &filter_json, const std::string &columns_json);

private:
    struct Op {
        const char *hash;   // "tables" or "rules"
        bool remove;
        std::string field;  // empty with remove: TRUNCATE, the whole hash
        std::string value;  // JSON, for HSET
    };
    void seed_hash(RedisLink &redis, const std::string &key, const char *query);
    void set_prefix(const std::string &prefix);
    std::vector<Op> pending_;
    std::string tables_key_, rules_key_;  // commands hold views of these
};

}  // namespace livesync::extension::worker
