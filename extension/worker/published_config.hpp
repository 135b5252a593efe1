// The sync configuration as the sidecars read it: the Redis hash <prefix>tables,
// "schema.table" -> {"schema":..,"table":..}. The replicator updates it from the
// livesync.tables changes it decodes, in the same MULTI/EXEC as the XADD that carries
// them, so the hash always matches the stream's newest entry.
#pragma once

#include "redis_link.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace livesync::extension::worker {

class PublishedConfig {
public:
    // Takes a decoded livesync.tables change (msgpack change map).
    void apply(std::string_view change_msgpack);
    bool dirty() const { return !pending_.empty(); }
    // HSET / HDEL commands for the pending changes; they point into this object,
    // valid until clear_pending().
    void append_commands(const std::string &hash_key, std::vector<Command> &commands) const;
    void clear_pending() { pending_.clear(); }

    // A Redis that lost the hash (new, or restarted without persistence) gets the
    // current config from livesync.tables.
    void seed_if_missing(RedisLink &redis, const std::string &hash_key);

    // True when the comma-separated list names `name` (as output_plugin_libraries).
    static bool list_has(std::string_view list, std::string_view name);

private:
    struct Op {
        bool remove;
        std::string field;  // "schema.table"; empty with remove: TRUNCATE, the whole hash
        std::string value;  // JSON, for HSET
    };
    void add_table(const std::string &schema, const std::string &table);
    std::vector<Op> pending_;
};

}  // namespace livesync::extension::worker
