// registry/: this sidecar's entries in the Redis registry — one hash per connected
// client and a heartbeat key for the sidecar itself — written by a thread of its own
// so the lws thread never waits on Redis. Encodings here are pure and unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace livesync::registry {

struct ClientRecord {
    std::string client_id;
    std::string address;
    int64_t connected_at_ms = 0;
    int64_t last_activity_ms = 0;
    std::vector<std::string> subscriptions;  // qualified table names, sorted, distinct
};

struct Keys {
    std::string prefix;
    std::string sidecar_id;

    std::string client(const std::string &client_id) const { return prefix + "client:" + client_id; }
    std::string sidecar_clients() const { return prefix + "sidecar:" + sidecar_id + ":clients"; }
    std::string sidecar() const { return prefix + "sidecar:" + sidecar_id; }
    std::string sidecars() const { return prefix + "sidecars"; }
};

// HSET <client key> sidecar .. address .. connected_at .. last_activity .. subscriptions <json array>
std::vector<std::string> hset_client_command(const Keys &keys, const ClientRecord &record);

// {"id":..,"url":"http://<listen>","started_at":<unix ms>}
std::string heartbeat_json(const std::string &sidecar_id, const std::string &listen, int64_t started_at_ms);

int64_t unix_ms_now();

}  // namespace livesync::registry
