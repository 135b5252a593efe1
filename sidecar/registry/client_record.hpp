// registry/: this sidecar's entries in the Redis registry — one hash per connected
// client and a heartbeat key for the sidecar itself — written by a thread of its own
// so the lws thread never waits on Redis. Encodings here are pure and unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/redis_keys.hpp"

namespace livesync::registry {

struct ClientRecord {
    std::string client_id;
    std::string address;
    int64_t connected_at_ms = 0;
    int64_t last_activity_ms = 0;
    std::vector<std::string> subscriptions;  // qualified table names, sorted, distinct
    // The generation of the session's client-id claim (auth/security_store.hpp): a newer
    // session of the id, on any sidecar, has a higher one. 0: no claim was made.
    uint64_t generation = 0;
    // Who the session is (livesync.clients() shows them): the token's sub (absent for
    // anonymous sessions), its tenant and role claims; absent until the hello.
    std::optional<std::string> user;
    std::optional<std::string> tenant;
    std::optional<std::string> role;
};

struct Keys {
    std::string prefix;
    std::string sidecar_id;

    std::string client(const std::string &client_id) const { return common::RedisKeys(prefix).client(client_id); }
    // Which sidecar's session holds the id now, and its generation (security_store.cpp).
    std::string client_holder(const std::string &client_id) const {
        return common::RedisKeys(prefix).client_holder(client_id);
    }
    std::string sidecar_clients() const { return common::RedisKeys(prefix).sidecar_clients(sidecar_id); }
    std::string sidecar() const { return common::RedisKeys(prefix).sidecar(sidecar_id); }
    std::string sidecars() const { return common::RedisKeys(prefix).sidecars(); }
};

// Writes the client's hash (sidecar, generation, address, connected_at, last_activity,
// subscriptions as a JSON array, and user, tenant, role when known) unless it already holds a newer generation: a session
// that lost its client id to a newer one on another sidecar must not overwrite its entry.
std::vector<std::string> upsert_client_command(const Keys &keys, const ClientRecord &record);

// Deletes the client's hash if it is this sidecar's entry of that generation or an
// older one (generation 0: any of this sidecar's), never another sidecar's; drops the
// id from this sidecar's set; and, if the holder key still names that generation,
// removes its sidecar, so the next hello elsewhere writes no replace entry for nobody.
std::vector<std::string> remove_client_command(const Keys &keys, const std::string &client_id, uint64_t generation);

// {"id":..,"url":<advertise_url>,"started_at":<unix ms>,"presence_token":..}: the sweep
// posts to url + "/v1/clients/presence" with the token (omitted if empty).
std::string heartbeat_json(const std::string &sidecar_id, const std::string &advertise_url, int64_t started_at_ms,
                           const std::string &presence_token = std::string());

int64_t unix_ms_now();

}  // namespace livesync::registry
