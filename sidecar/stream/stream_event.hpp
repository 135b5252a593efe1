// What the stream reader thread hands to the lws thread, in stream order, through a
// bounded queue (the reader waits when it is full: backpressure, never unbounded RAM).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "sidecar/rules/rule_set.hpp"
#include "sidecar/rules/config_history.hpp"
#include "sidecar/rules/published_tables.hpp"
#include "sidecar/stream/shared_frames.hpp"

namespace livesync::stream {

// The reader (re)started from a snapshot: the config and the stream tail, read in one
// MULTI/EXEC, so the set of published tables is exact as of tail.
struct StreamReset {
    rules::PublishedTables tables;
    common::StreamId tail;  // 0-0 when the stream is empty
    rules::RuleSet rules;  // access rules ("<prefix>rules"), as of tail
    // The config versions "<prefix>config" keeps, oldest first, read in the same
    // MULTI/EXEC (stream/config_history.hpp).
    std::vector<std::pair<common::StreamId, rules::ConfigVersion>> history;
    // Set when the stream could no longer prove it held every entry after the last one
    // the reader handed over (stream/continuity.hpp): that entry. Live sessions may have
    // missed what came after it; they get resync_required.
    std::optional<common::StreamId> gap_after;
};

struct StreamBatch {
    common::StreamId id;
    common::ChangeBatch batch;
    size_t bytes = 0;  // the entry's encoded batch size: what the event queue bounds
    std::string raw;   // the encoded batch while not decoded yet (replay pages)
    // When the XREAD reply holding it arrived: the start of livesync_fanout_seconds.
    std::chrono::steady_clock::time_point received_at{};
    // With several service threads: the frames built for this entry, shared by them
    // (set by EventQueue::push; nullptr with one thread).
    std::shared_ptr<SharedFrames> frames;
};

using StreamEvent = std::variant<StreamReset, StreamBatch>;

// Bounded by events and by the encoded bytes of the batches it holds (decoded, a batch
// takes several times its encoded size), so a huge transaction streaming through holds
// a few of its parts here, never all of them. Every consumer (a service thread) reads
// every event, in order, through its own cursor; an event is held once (shared, read
// only) until the last consumer took it, and a consumer that lags holds the writer back.
class EventQueue {
public:
    static constexpr size_t kDefaultMaxBytes = 1u << 20;
    using Shared = std::shared_ptr<const StreamEvent>;
    explicit EventQueue(size_t capacity = 256, size_t max_bytes = kDefaultMaxBytes, size_t consumers = 1)
        : capacity_(capacity), max_bytes_(max_bytes), cursors_(consumers, 0) {}

    // Blocks while full; returns false (event dropped) once close() was called. An event
    // into an empty queue always fits.
    bool push(StreamEvent event);
    // Moves up to max events, and batches of up to max_bytes together (at least one
    // event), that consumer has not taken yet into out; never blocks. Returns true if more
    // remain for it.
    bool pop_some(size_t max, std::vector<Shared> &out, size_t max_bytes = SIZE_MAX, size_t consumer = 0);
    // Wakes and fails every push, now and later.
    void close();

private:
    struct Held {
        Shared event;
        size_t bytes;
    };
    std::mutex mutex_;
    std::condition_variable not_full_;
    std::deque<Held> events_;     // events_[0] has sequence number base_
    uint64_t base_ = 0;
    size_t capacity_;
    size_t max_bytes_;
    size_t bytes_ = 0;  // of the StreamBatch events held
    std::vector<uint64_t> cursors_;  // per consumer: the sequence number of its next event
    bool closed_ = false;
};

}  // namespace livesync::stream
