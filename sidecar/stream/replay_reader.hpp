// Resume from the stream: a thread with its own blocking hiredis connection that reads
// pages of the change stream for sessions that said hello with a last_lsn, so the lws
// thread never waits on Redis. Each page is read in one MULTI/EXEC together with the
// proof that nothing after the session's position was trimmed (stream/continuity.hpp);
// without that proof the page says Gap and the session gets resync_required.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/lsn.hpp"
#include "common/redis_url.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/redis/redis_worker.hpp"
#include "sidecar/stream/continuity.hpp"
#include "sidecar/stream/stream_entry.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

// The session has every entry up to and including `after`; a page holds what follows.
// For a client's last_lsn L, after = {L, kWholeTransaction} (all parts of L).
struct ReplayRequest {
    uint64_t session_serial = 0;
    common::StreamId after;
};

struct ReplayPage {
    enum class Outcome { Page, Gap, Failed };
    uint64_t session_serial = 0;
    common::StreamId after;   // as requested
    Outcome outcome = Outcome::Page;
    std::vector<StreamBatch> entries;  // in stream order, all above `after`
    std::string error;                 // Failed: why
};

// The first stream ID strictly above id ("<lsn+1>-0" after a whole transaction).
common::StreamId next_stream_id(common::StreamId id);

struct ReplayConfig {
    common::RedisUrl url;
    std::string prefix;
    size_t page_entries = 64;   // entries per XRANGE at most
    size_t page_bytes = 1u << 20;  // ...and about this many encoded bytes (at least one entry)
    size_t max_pending = 65536; // requests waiting; more fail at once (the session retries by reconnecting)
};

class ReplayReader {
public:
    // deliver is called on the reader thread with each finished page (it queues the page
    // for the lws thread and wakes it).
    ReplayReader(ReplayConfig config, std::function<void(ReplayPage)> deliver, ops::Counters &counters);
    ~ReplayReader();
    ReplayReader(const ReplayReader &) = delete;
    ReplayReader &operator=(const ReplayReader &) = delete;

    void start();
    void stop();
    // Thread-safe; never blocks on Redis.
    void request(ReplayRequest request);

private:
    void run();
    ReplayPage read_page(const ReplayRequest &request);
    bool query(redis::Connection &conn, const ReplayRequest &request, ReplayPage &page, std::string *error);

    ReplayConfig config_;
    std::string stream_key_;
    std::string trimmed_key_;
    std::function<void(ReplayPage)> deliver_;
    ops::Counters &counters_;
    ReadSizer sizer_;  // reader thread only
    // Requests wait in its inbox (max_pending); last: stopped before the members its thread uses.
    redis::RedisInboxWorker<redis::BoundedInbox<ReplayRequest>> worker_;
};

// Hands finished pages from the replay thread to the lws thread.
class ReplayInbox {
public:
    void push(ReplayPage page) {
        std::lock_guard<std::mutex> lock(mutex_);
        pages_.push_back(std::move(page));
    }
    std::deque<ReplayPage> take() {
        std::lock_guard<std::mutex> lock(mutex_);
        std::deque<ReplayPage> out;
        out.swap(pages_);
        return out;
    }

private:
    std::mutex mutex_;
    std::deque<ReplayPage> pages_;
};

}  // namespace livesync::stream
