// Counters of what livesyncd dropped, rejected or did, shared by its threads. One
// instance, owned by main() and handed to each component by reference. Logged at
// shutdown; the future /metrics endpoint reads the same fields.
#pragma once

#include <atomic>
#include <cstdint>

namespace livesync::ops {

struct Counters {
    std::atomic<uint64_t> stream_entries{0};        // stream entries read
    std::atomic<uint64_t> bad_stream_entries{0};    // entries skipped: not a valid batch
    std::atomic<uint64_t> frames_built{0};          // distinct change frames encoded
    std::atomic<uint64_t> frames_queued{0};         // change frames queued to sessions
    std::atomic<uint64_t> send_queue_overflows{0};  // sessions closed with 1008
    std::atomic<uint64_t> registry_ops_dropped{0};  // registry updates dropped: queue full
    std::atomic<uint64_t> sessions_opened{0};
    std::atomic<uint64_t> sessions_closed{0};
};

}  // namespace livesync::ops
