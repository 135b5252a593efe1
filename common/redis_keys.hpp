// Every Redis key livesync uses, named once for the extension, livesyncd and the tools
// (docs/configuration.md has the table). A key is <prefix><name>. The default prefix
// "{livesync}:" carries a Redis Cluster hash tag: Cluster hashes only the text between
// the first "{" and the next "}", so every key of one prefix lands in one hash slot and
// each Lua script and MULTI/EXEC, which name several keys, touches a single slot.
//
// These names are a wire contract with the data in deployed Redis servers and with
// every extension and sidecar of another version sharing that Redis: renaming a key (or
// the default prefix) is a breaking change that needs a migration and a release note.
// test/unit/redis_keys_test.cpp pins each name; the Python test harness spells the same
// names through key() in test/integration/harness.py.
#pragma once

#include <string>
#include <string_view>

namespace livesync::common {

inline constexpr std::string_view kDefaultKeyPrefix = "{livesync}:";

// The part of `key` Redis Cluster hashes to pick its slot: the text inside the first
// "{...}" when it is not empty, else the whole key.
inline std::string_view cluster_hash_tag(std::string_view key) {
    auto open = key.find('{');
    if (open == std::string_view::npos) return key;
    auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

// True when every key under `prefix` hashes by the prefix's tag alone, whatever follows
// it (client ids and addresses may hold braces of their own: only the first tag counts).
inline bool prefix_has_hash_tag(std::string_view prefix) {
    auto open = prefix.find('{');
    if (open == std::string_view::npos) return false;
    auto close = prefix.find('}', open + 1);
    return close != std::string_view::npos && close > open + 1;
}

class RedisKeys {
public:
    explicit RedisKeys(std::string prefix = std::string(kDefaultKeyPrefix)) : prefix_(std::move(prefix)) {}
    const std::string &prefix() const { return prefix_; }

    // The change stream the replicator XADDs to and every sidecar reads.
    std::string changes() const { return key("changes"); }
    // Highest commit LSN whose entries trimming may have removed (stream retention).
    std::string trimmed_lsn() const { return key("trimmed_lsn"); }
    // The config copies: published tables and access rules (hashes).
    std::string tables() const { return key("tables"); }
    std::string rules() const { return key("rules"); }
    // Every version of that config the stream may still need, whole, by the stream
    // position that made it (stream: sidecar/rules/config_history.hpp).
    std::string config_history() const { return key("config"); }
    // Kick / replace commands every sidecar reads (stream).
    std::string control() const { return key("control"); }
    std::string audit() const { return key("audit"); }
    // Registry: the set of sidecar ids, each sidecar's heartbeat (TTL) and client set,
    // one hash per connected client.
    std::string sidecars() const { return key("sidecars"); }
    std::string sidecar(std::string_view id) const { return key("sidecar:", id); }
    std::string sidecar_clients(std::string_view id) const { return key("sidecar:", id) + ":clients"; }
    std::string client(std::string_view id) const { return key("client:", id); }
    std::string client_prefix() const { return key("client:"); }
    // Client-id ownership and hand-over (sidecar/auth/security_store.hpp).
    std::string client_owner(std::string_view id) const { return key("client_owner:", id); }
    std::string client_holder(std::string_view id) const { return key("client_holder:", id); }
    std::string client_generation() const { return key("client_generation"); }
    // Address bans: one key per address (TTL) and their index by expiry.
    std::string ban(std::string_view address) const { return key("ban:", address); }
    std::string bans() const { return key("bans"); }
    // Activity counters: index by last seen, one hash per owner.
    std::string activity() const { return key("activity"); }
    std::string activity(std::string_view owner) const { return key("activity:", owner); }

private:
    std::string key(std::string_view name, std::string_view id = {}) const {
        std::string k;
        k.reserve(prefix_.size() + name.size() + id.size());
        k.append(prefix_).append(name).append(id);
        return k;
    }
    std::string prefix_;
};

}  // namespace livesync::common
