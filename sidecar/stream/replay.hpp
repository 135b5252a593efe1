// The lws-thread side of resume. A session that said hello with last_lsn L is marked
// replaying: live fan-out skips it while pages of the stream above L, read by the
// ReplayReader thread, are fanned out to it alone (same frames, same subscription
// rules). One page is outstanding per session, and the next is asked for only when the
// session's send queue is below the low-water mark, so a resume never overflows the
// queue or holds more than a page in memory. When a page ends at or past the last
// entry live fan-out applied, the session goes live, skipping live entries up to the
// replayed one: every transaction above L exactly once. No proof that the stream still
// holds everything above L: resync_required and the session is live from now. A gap the
// live reader finds while a session replays ends its replay the same way
// (stream/resync.hpp): the session never switches to live across a gap.
//
// The same path carries a live session that reads slower than changes arrive (a huge
// transaction's parts, a burst): live fan-out hands it over instead of queueing more
// for it, so what waits in memory for one client is bounded by the send queue's
// high-water mark plus one page, whatever the size of a transaction.
#pragma once

#include <deque>
#include <functional>
#include <unordered_set>

#include "sidecar/ops/counters.hpp"
#include "sidecar/session/resumer.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/rules/live_state.hpp"
#include "sidecar/stream/replay_reader.hpp"

namespace livesync::stream {

class ReplayCoordinator final : public session::Resumer {
public:
    ReplayCoordinator(session::SessionTable &sessions, const rules::LiveState &live, ops::Counters &counters,
                      std::function<void(ReplayRequest)> request, size_t low_water_bytes);

    void begin_resume(session::Session &s, uint64_t last_lsn) override;
    // Live fan-out found s's send queue above the high-water mark (batch_applier.hpp,
    // Pacing): s has every entry up to `through`; the replay feeds it what follows once
    // its queue drained below the low-water mark, and it goes live again silently.
    void begin_catch_up(session::Session &s, common::StreamId through);
    // Called after a replayed transaction changed the config, with the version it made:
    // ends the session's subscriptions that version no longer allows, as live fan-out's
    // caller does for every session (FrameHandler::end_lost_subscriptions).
    void on_config_change(std::function<void(session::Session &, const rules::ConfigVersion &)> check) {
        on_config_ = std::move(check);
    }
    // Lets s's replay go on after a snapshot subscription of it ended its rows
    // (snapshot/snapshot_coordinator.hpp): no-op unless s is replaying.
    void resume_paging(session::Session &s) { advance(s); }
    // A page from the reader (lws thread).
    void on_page(ReplayPage &page);
    // Call when s's send queue shrank (after a write).
    void on_drained(session::Session &s) {
        if (s.replay.waiting_for_drain && s.queue().bytes() < low_water_bytes_) advance(s);
    }

    // Pages whose frames may be waiting in send queues at once: a session holds a slot
    // from its page request until its queue drained below the low-water mark, and the
    // others wait in order. A replayed page is encoded for its session alone, so this,
    // not the number of sessions behind, bounds the memory of catching up.
    static constexpr size_t kMaxPagesInFlight = 16;
    // Frees the slots of sessions that closed or stopped replaying and hands them on
    // (the server calls it once a second).
    void tick();

private:
    void advance(session::Session &s);
    bool acquire(uint64_t serial);
    void release(uint64_t serial);
    void purge();
    void grant();
    void resync(session::Session &s);

    session::SessionTable &sessions_;
    const rules::LiveState &live_;
    ops::Counters &counters_;
    std::function<void(ReplayRequest)> request_;
    std::function<void(session::Session &, const rules::ConfigVersion &)> on_config_;
    size_t low_water_bytes_;
    std::unordered_set<uint64_t> holders_;  // serials holding a slot
    std::deque<uint64_t> waiting_;          // serials waiting for one, in order
};

}  // namespace livesync::stream
