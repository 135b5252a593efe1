// The lws-thread side of snapshots. A subscribe with "snapshot": true makes the
// subscription's entry `Rows` and holds the session's stream frames (its replay cursor is
// active and does not page while any of its subscriptions sends rows), so the client sees
// subscribed, snapshot_rows..., snapshot_end, then stream frames in commit order. The
// rows come from a SnapshotReader query; each is judged with rules::classify() as an
// insert of that row (the one rule evaluator) under the sync config the snapshot itself
// saw (read in its transaction: not the rules held when the rows arrive), cut to the
// visible columns and encoded once per view and encoding. The next page is read only when every session of the query
// drained below the low-water mark, so memory does not grow with the table.
//
// At snapshot_end the subscription becomes `Ready` with its cut (the snapshot's xids and
// WAL bound) and the position to start from: its subscribe position, or just below the
// oldest transaction applied live at or before it that the snapshot does not see
// (RecentCommits). The replay then rewinds the session to the lowest such position
// (snapshot_rewind() in stream/replay.cpp), and feeds it from the stream: the new subscription gets each
// transaction its snapshot does not contain, the others only entries they did not get.
//
// Sharing: requests for the same table and tenant (the share key: what the query reads)
// share one query, each still getting the rows of its own view (rule, claims, filter,
// columns, encoding: one audience each). A new query first gathers for set_gather()'s
// window (--snapshot-gather-ms), so that clients subscribing together share it. Later
// requests join it while it runs: the rows events it already handled are kept (the job's
// log, within set_share_bytes() for all of this thread's queries, --snapshot-share-mb),
// and a late subscriber is fed them from the first at its own pace (on_drained), then
// follows the query with the others. One that joins after the query's snapshot was taken
// is still exact: its subscribe position is later than the snapshot, and RecentCommits
// (which must still hold every commit since the snapshot: a join is refused otherwise)
// starts it below every transaction the snapshot did not see. When the log would pass
// the budget the query takes no more joiners, and reads on only once the late ones
// caught up (then the log is freed): memory stays within the budget and one event.
// Admission: at most reader.max_queries() queries run; further requests wait in order and
// their clients get snapshot_waiting. A query nobody waits for any more (clients left,
// unsubscribed, lost access) is cancelled.
// Rows that some audience sees whole come encoded from the reader thread (once per query,
// SnapshotEvent::whole); the service thread then only frames them.
// Pacing: while live changes wait behind snapshot traffic (SnapshotPacer,
// --snapshot-yield-ms), a query asks Postgres for its next rows, and a late joiner is fed
// from the log, only as the pacer's rate allows (on_pace_timer then goes on).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/ops/counters.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/session/snapshot_starter.hpp"
#include "sidecar/snapshot/snapshot_pacer.hpp"
#include "sidecar/snapshot/snapshot_reader.hpp"
#include "sidecar/session/xid_snapshot.hpp"
#include "sidecar/rules/live_state.hpp"

namespace livesync::stream {
class ReplayCoordinator;
}

namespace livesync::snapshot {

// Hands reader events from the reader threads to the lws thread.
class SnapshotInbox {
public:
    void push(SnapshotEvent event) {
        std::lock_guard<std::mutex> lock(mutex_);
        events_.push_back(std::move(event));
    }
    // The oldest event, if any; *more: others follow it.
    std::optional<SnapshotEvent> pop(bool *more) {
        std::lock_guard<std::mutex> lock(mutex_);
        *more = events_.size() > 1;
        if (events_.empty()) return std::nullopt;
        SnapshotEvent out = std::move(events_.front());
        events_.pop_front();
        return out;
    }

private:
    std::mutex mutex_;
    std::deque<SnapshotEvent> events_;
};

class SnapshotCoordinator final : public session::SnapshotStarter {
public:
    // reader may be nullptr (no --postgres): snapshots are refused.
    SnapshotCoordinator(session::SessionTable &sessions, const rules::LiveState &live,
                        stream::ReplayCoordinator &replay, SnapshotQueries *reader, size_t low_water_bytes);

    // Set before the server runs.
    void set_reader(SnapshotQueries *reader) { reader_ = reader; }
    void set_counters(ops::Counters *counters) { counters_ = counters; }
    // The service thread's index, in the low bits of every job id (session::shard_of_serial
    // of a job id names the thread its reader events go back to).
    void set_shard(unsigned shard) { shard_ = shard; }
    // New queries gather identical requests for gather_ms before they queue; wake_in(ms)
    // asks for on_gather_timer() that many milliseconds from now. 0 (the default): they
    // queue at once.
    void set_gather(int64_t gather_ms, std::function<void(int64_t delay_ms)> wake_in) {
        gather_ms_ = gather_ms;
        wake_in_ = std::move(wake_in);
    }
    // Bytes of rows events this thread's running queries may keep for late joiners; 0:
    // requests join a query only until its first rows were handled.
    void set_share_bytes(size_t bytes) { share_bytes_ = bytes; }
    // Snapshots slow down while live transactions wait more than target_us above their
    // usual commit-to-fan-out delay (0: never); wake_in(us) asks for on_pace_timer() that
    // many microseconds from now.
    void set_pacing(int64_t target_us, std::function<void(int64_t delay_us)> wake_in) {
        pacer_.set_target_us(target_us);
        pace_wake_in_ = std::move(wake_in);
    }
    const SnapshotPacer &pacer() const { return pacer_; }
    // The monotonic clock the pacer runs on, in microseconds (tests set their own).
    void set_clock(int64_t (*now_us)()) { now_us_ = now_us; }
    // Live fan-out applied a transaction committed delay_us ago (wall clock).
    void record_live_delay(int64_t delay_us);
    // Goes on with the queries and late joiners that waited for the pacer.
    void on_pace_timer();
    size_t logged_bytes() const { return logged_bytes_; }
    // Queues the queries whose gathering ended at now_ms (steady clock, session::steady_now_ms).
    void on_gather_timer(int64_t now_ms);
    bool snapshots_available() const override { return reader_ != nullptr; }
    void begin_snapshot(session::Session &s, const std::string &id) override;
    void subscriptions_changed(session::Session *s) override;

    // A reader event (lws thread).
    void on_event(SnapshotEvent &event);
    // s's send queue shrank.
    void on_drained(session::Session &s);
    // Live fan-out applied txn.
    void record_commit(uint32_t xid, uint64_t lsn) { recent_.add(xid, lsn); }
    // Once a second: cancel queries nobody waits for, drop filters the stream passed.
    void tick();

    size_t running() const { return running_; }
    size_t queued() const { return queued_.size(); }
    size_t gathering() const { return gathering_.size(); }

    // Rows per snapshot_rows frame are cut at about this many encoded bytes.
    static constexpr size_t kFrameBytes = 256u << 10;

private:
    struct Subscriber {
        Subscriber(uint64_t serial, std::string id) : serial(serial), id(std::move(id)) {}
        uint64_t serial;
        std::string id;
        // Joined after rows went out: fed from the job's log, log[next] onwards, at its own
        // pace, until it reached the end of the log and follows the query with the others.
        bool catching_up = false;
        size_t next = 0;
        // A late joiner's start below the transactions its snapshot did not see, taken when
        // it joined (RecentCommits held them all then).
        std::optional<uint64_t> start_after;
    };
    // A rows event as handled: kept in the job's log for late joiners.
    struct Logged {
        std::vector<std::string> pages;
        std::vector<protocol::SnapshotRowsBody> whole;
        bool whole_json = false;
        bool whole_msgpack = false;
        size_t bytes = 0;
        // The frames sent of this event, by audience (encoding and view) and subscription
        // id, in order with their rows: a late joiner of an audience and id seen before gets
        // these, not another encoding of the rows.
        mutable std::map<std::string, std::vector<std::pair<protocol::Frame, uint32_t>>> framed;
    };
    struct Job {
        uint64_t id = 0;
        std::string table;  // "schema.table"
        std::string share_key;
        std::vector<Subscriber> subscribers;
        bool submitted = false;
        int64_t gather_until_ms = 0;  // while in gathering_
        bool rows_seen = false;
        bool waiting_for_drain = false;
        // Its next read, or its late joiners' feeds, wait for the pacer (on_pace_timer).
        bool read_waits_for_pace = false;
        bool feed_waits_for_pace = false;
        std::shared_ptr<const session::SnapshotCut> cut;
        std::shared_ptr<const rules::ConfigVersion> config;  // what the snapshot saw
        std::optional<std::string> tenant;
        uint64_t rows = 0;  // read from Postgres
        size_t served = 0;  // subscribers that got snapshot_end
        // Rows events handled so far, while late joiners may come (joinable) or need them.
        std::vector<std::shared_ptr<const Logged>> log;
        size_t log_bytes = 0;
        bool joinable = true;
        bool query_done = false;  // End arrived: the query's slot is free, late joiners finish
        uint64_t commits_at_start = 0;  // RecentCommits::added() when the snapshot started
        std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    };

    // The subscriber's session and entry while it still waits for rows; nullptr otherwise.
    session::SubscriptionEntry *waiting_entry(const Subscriber &sub, uint64_t job, session::Session **s) const;
    void drop_gone(Job &job);
    // Cancels the queries (and forgets the queued requests) no subscriber waits for.
    void cancel_abandoned();
    // Sends a rows event to the subscribers following the query (only == nullptr), or to
    // one catching up. Returns the bytes of frames it added to rows.framed.
    size_t send_rows(Job &job, const Logged &rows, const Subscriber *only);
    // Whether snapshot work may go on now; if not, *waits is set (a job's flag) and
    // on_pace_timer() comes when it may.
    bool paced(bool *waits);
    // Keeps a handled rows event for late joiners, or frees the log when none may come.
    void keep(Job &job, std::shared_ptr<const Logged> rows);
    void drop_log(Job &job);
    bool catching_up(const Job &job) const;
    // A request for job's rows now: may it join, though rows went out already?
    bool can_join_late(const Job &job) const;
    // RecentCommits still holds every commit since the job's snapshot (half its capacity:
    // the Started event is handled a little after the snapshot was taken).
    bool ring_covers(const Job &job) const { return recent_.added() - job.commits_at_start < recent_.capacity() / 2; }
    // Feeds a late subscriber the logged events while its queue is below the low-water
    // mark; once it has them all it follows the query (or finishes, the query done).
    // false: the job was released.
    bool feed(Job &job, Subscriber &sub, session::Session &s);
    // After subscribers caught up or left: free the log, read on, or release the job.
    // false: the job was released.
    bool settle(Job &job);
    void finish_one(Job &job, const Subscriber &sub);
    void finish(Job &job);
    void fail(Job &job, const std::string &error);
    void release(uint64_t job_id);
    void admit();
    // Tells each subscriber of a queued job how many queries are queued before it.
    void tell_waiting(const Job &job);
    void submit(Job &job);
    void maybe_more(Job &job);
    // Holds s's stream frames (an active replay cursor) and lets its replay continue.
    void hold(session::Session &s);
    void resume(session::Session &s);

    session::SessionTable &sessions_;
    const rules::LiveState &live_;
    stream::ReplayCoordinator &replay_;
    SnapshotQueries *reader_;
    ops::Counters *counters_ = nullptr;
    void count(std::atomic<uint64_t> ops::Counters::*counter, uint64_t n = 1) {
        if (counters_) (counters_->*counter).fetch_add(n);
    }
    size_t low_water_bytes_;
    session::RecentCommits recent_;
    std::map<uint64_t, Job> jobs_;
    std::deque<uint64_t> gathering_;  // new jobs gathering identical requests, oldest first
    std::deque<uint64_t> queued_;  // jobs waiting for a query slot, in order
    int64_t gather_ms_ = 0;
    std::function<void(int64_t)> wake_in_;
    bool gather_timer_set_ = false;
    size_t running_ = 0;
    size_t share_bytes_ = 0;
    SnapshotPacer pacer_;
    static int64_t steady_us() {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    int64_t (*now_us_)() = steady_us;
    std::function<void(int64_t)> pace_wake_in_;
    bool pace_timer_set_ = false;
    size_t logged_bytes_ = 0;  // in every job's log
    uint64_t next_job_ = 1;
    unsigned shard_ = 0;  // in the low bits of every job id (set_shard)
};

}  // namespace livesync::snapshot
