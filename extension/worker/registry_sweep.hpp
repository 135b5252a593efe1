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

SweepResult sweep_registry(RedisLink &redis, const std::string &prefix, long http_timeout_ms);

}  // namespace livesync::extension::worker
