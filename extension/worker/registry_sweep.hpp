// The seed's "410 Gone" pruning. Every livesync.sweep_interval the replicator asks each
// sidecar listed in Redis which of its registered clients it still holds (one batched
// presence request per sidecar, libcurl, with the presence token the sidecar published
// in its heartbeat: nobody else may ask) and removes the entries answered gone; a
// sidecar whose heartbeat key expired is dead, and all its entries go. Entries are
// removed only on an explicit answer or an expired heartbeat, never because a sidecar
// was slow or unreachable.
#pragma once

#include "redis_link.hpp"

#include <string>

namespace livesync::extension::worker {

struct SweepResult {
    int sidecars_checked = 0;
    int dead_sidecars = 0;
    int clients_removed = 0;
    int sidecars_unreachable = 0;
};

// How the sweep reaches the sidecars' presence endpoints.
struct SidecarHttp {
    long timeout_ms = 5000;
    // PEM file of the CAs an https sidecar's certificate must chain to (livesync.sidecar_ca_file);
    // empty: the system's CA store. Certificate and host name are always verified.
    std::string ca_file;
};

SweepResult sweep_registry(RedisLink &redis, const std::string &prefix, const SidecarHttp &http);

}  // namespace livesync::extension::worker
