// The stream reader thread: its own blocking hiredis connection (connect and read
// timeouts), XREAD on "<prefix>changes", one decode per entry, and the decoded batches
// pushed in order to the lws thread (EventQueue + a wake-up callback, which is
// lws_cancel_service()). A bad entry is logged with its ID, counted and skipped.
// Never a silent gap: each read proves, in the same MULTI/EXEC, that the stream still
// holds everything after the last entry handed over (stream/continuity.hpp); when it
// cannot, the reader takes a new snapshot and hands it over as a StreamReset with
// gap_after set, and the lws thread tells the live sessions resync_required.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "common/lsn.hpp"
#include "common/redis_url.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/redis/redis_worker.hpp"
#include "sidecar/stream/stream_entry.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

struct ReaderConfig {
    common::RedisUrl url;
    std::string prefix;
    int block_ms = 2000;
    int count = 100;                   // entries per XREAD at most
    size_t read_bytes = 2u << 20;      // ...and about this many bytes (stream_entry.hpp, ReadSizer)
};

class StreamReader {
public:
    StreamReader(ReaderConfig config, EventQueue &queue, std::function<void()> wake, ops::Counters &counters);
    ~StreamReader();

    void start();
    // Returns within one XREAD BLOCK period.
    void stop();

private:
    void run();
    // Reads the config, the stream's tail and the continuity proof for last_id_ in one
    // MULTI/EXEC and decides where to read from: after last_id_ when the stream still
    // holds everything after it, else from the tail (a StreamReset, with gap_after when
    // entries were missed). False on a Redis error.
    bool snapshot(redis::Connection &conn, std::string *error);
    // The XRANGE reply of "<prefix>config", parsed oldest first.
    void read_history(const redisReply *reply, std::vector<std::pair<common::StreamId, rules::ConfigVersion>> &out) const;
    // One read, one round trip: the continuity proof and a non-blocking XREAD in one
    // MULTI/EXEC, and pipelined after it an XREAD BLOCK that waits only when that found
    // nothing new. False on a Redis error.
    bool read_once(redis::Connection &conn, std::string *error);
    // Hands over the entries of an XREAD reply that follow last_id_; false (and *error)
    // on a malformed reply.
    bool hand_over(const redisReply *xread_reply, std::string *error);
    // Waits while the stream is behind last_id_ (stream_behind): true while the wait lasts
    // (at most kBehindPatience), false once the reader gives up and starts over from the tail.
    bool wait_while_behind();
    void deliver(StreamEvent event);

    ReaderConfig config_;
    std::string stream_key_;
    std::string config_key_;
    std::string rules_key_;
    std::string history_key_;
    std::string trimmed_key_;
    EventQueue &queue_;
    std::function<void()> wake_;
    ops::Counters &counters_;
    ReadSizer sizer_;
    std::optional<common::StreamId> last_id_;  // last entry handed over (or the snapshot's tail)
    std::optional<uint64_t> trimmed_at_snapshot_;  // the trim marker the last snapshot saw
    // The last entry handed over ended with a whole transaction (not a part of one that
    // goes on): the position a wait for a stream that fell behind can start from.
    bool handed_final_ = false;
    // While the stream comes back after it fell behind: transactions of commit LSN at or
    // below this were handed over already (stream_behind, drop_through).
    std::optional<uint64_t> drop_through_lsn_;
    // Since when the stream's newest entry is below last_id_ (stream_behind), if it is.
    std::optional<std::chrono::steady_clock::time_point> behind_since_;
    static constexpr std::chrono::seconds kBehindPatience{60};
    redis::RedisWorker worker_;  // last: stopped before the members its thread uses
};

}  // namespace livesync::stream
