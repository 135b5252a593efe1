// What the stream reader thread hands to the lws thread, in stream order, through a
// bounded queue (the reader waits when it is full: backpressure, never unbounded RAM).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "sidecar/auth/rule_set.hpp"
#include "sidecar/stream/published_tables.hpp"

namespace livesync::stream {

// The reader (re)started from a snapshot: the config and the stream tail, read in one
// MULTI/EXEC, so the set of published tables is exact as of tail.
struct StreamReset {
    PublishedTables tables;
    common::StreamId tail;  // 0-0 when the stream is empty
    sidecar::auth::RuleSet rules;  // access rules ("<prefix>rules"), as of tail
    // Set when the stream could no longer prove it held every entry after the last one
    // the reader handed over (stream/continuity.hpp): that entry. Live sessions may have
    // missed what came after it; they get resync_required.
    std::optional<common::StreamId> gap_after;
};

struct StreamBatch {
    common::StreamId id;
    common::ChangeBatch batch;
    // When the XREAD reply holding it arrived: the start of livesync_fanout_seconds.
    std::chrono::steady_clock::time_point received_at{};
};

using StreamEvent = std::variant<StreamReset, StreamBatch>;

class EventQueue {
public:
    explicit EventQueue(size_t capacity = 256) : capacity_(capacity) {}

    // Blocks while full; returns false (event dropped) once close() was called.
    bool push(StreamEvent event);
    // Moves up to max events into out; never blocks. Returns true if more remain.
    bool pop_some(size_t max, std::vector<StreamEvent> &out);
    // Wakes and fails every push, now and later.
    void close();

private:
    std::mutex mutex_;
    std::condition_variable not_full_;
    std::deque<StreamEvent> events_;
    size_t capacity_;
    bool closed_ = false;
};

}  // namespace livesync::stream
