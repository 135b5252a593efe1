#include "sidecar/registry/client_record.hpp"

#include <chrono>

#include "common/change_batch.hpp"

namespace livesync::registry {

std::vector<std::string> hset_client_command(const Keys &keys, const ClientRecord &r) {
    std::string subs = "[";
    for (size_t i = 0; i < r.subscriptions.size(); ++i) {
        if (i) subs += ',';
        common::append_json_string(subs, r.subscriptions[i]);
    }
    subs += ']';
    return {"HSET",
            keys.client(r.client_id),
            "sidecar",
            keys.sidecar_id,
            "address",
            r.address,
            "connected_at",
            std::to_string(r.connected_at_ms),
            "last_activity",
            std::to_string(r.last_activity_ms),
            "subscriptions",
            subs};
}

std::string heartbeat_json(const std::string &sidecar_id, const std::string &listen, int64_t started_at_ms) {
    std::string out = "{\"id\":";
    common::append_json_string(out, sidecar_id);
    out += ",\"url\":";
    common::append_json_string(out, "http://" + listen);
    out += ",\"started_at\":";
    out += std::to_string(started_at_ms);
    out += '}';
    return out;
}

int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace livesync::registry
