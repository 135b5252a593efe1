// The stream as the lws thread knows it: whether a snapshot arrived, the position every
// new subscription is live from, and the published tables as of that position.
#pragma once

#include <cstdint>

#include "sidecar/stream/published_tables.hpp"

namespace livesync::stream {

struct LiveState {
    bool ready = false;     // a StreamReset arrived: tables and position are known
    uint64_t position = 0;  // highest commit LSN applied (or the snapshot's)
    PublishedTables tables;
};

}  // namespace livesync::stream
