// The sync config (published tables and access rules) as of every position of the
// stream: a change is judged by the config in force at its own transaction's commit, on
// every path (live, resume, catch-up), never by the config of the moment it is sent.
//
// A version is keyed by the stream position of the transaction part that made it, {commit
// LSN, part}; the version in force for a transaction part at key K is the newest one
// recorded at or before K. The replicator writes every version whole to the Redis stream
// "<prefix>config" (common/redis_keys.hpp), in the same MULTI/EXEC as the change entry
// that carries it, and keeps the newest kConfigVersionsKept; the reader loads them when
// it (re)starts and live fan-out records each new one as it applies it. A position older
// than every version kept has no version: the caller answers resync_required, never a
// guess (docs/security.md).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/lsn.hpp"
#include "sidecar/rules/rule_set.hpp"
#include "sidecar/rules/published_tables.hpp"

namespace livesync::rules {

struct ConfigVersion {
    PublishedTables tables;
    rules::RuleSet rules;
};

// The replicator keeps this many versions in Redis (XADD ... MAXLEN); the sidecar keeps
// as many in memory.
inline constexpr size_t kConfigVersionsKept = 1000;

class ConfigHistory {
public:
    void clear() { versions_.clear(); }
    // The version in force from `key` on. Keys only grow: a key at or below the newest
    // one (a version written again after a restart) replaces nothing older and is
    // recorded just after the newest.
    void record(common::StreamId key, std::shared_ptr<const ConfigVersion> version);
    // The version in force for the transaction part at `key`; nullptr when `key` is
    // older than every version kept.
    std::shared_ptr<const ConfigVersion> at(common::StreamId key) const;
    // The newest key, or nullopt when empty.
    std::optional<common::StreamId> newest() const;
    size_t size() const { return versions_.size(); }

private:
    std::map<common::StreamId, std::shared_ptr<const ConfigVersion>> versions_;
};

// One entry of "<prefix>config": its fields "t:<schema.table>" -> a "<prefix>tables"
// value and "r:<role>|<schema.table>" -> a "<prefix>rules" value (plus "v" -> "1", so
// that an empty config is an entry too). A bad table value fails the version (nullopt,
// *error): no table is published under it; a bad rule is dropped (it denies) and
// described in *rule_errors.
std::optional<ConfigVersion> parse_config_version(const std::vector<std::pair<std::string, std::string>> &fields,
                                                  std::string *error, std::vector<std::string> *rule_errors);

}  // namespace livesync::rules
