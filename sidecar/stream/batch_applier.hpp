// Applies the reader's events on the lws thread, in stream order: a reset replaces the
// published tables (and, when it follows a gap, tells every greeted session
// resync_required: stream/resync.hpp); a batch updates them with its config changes and
// fans each transaction out to the subscribed sessions.
#pragma once

#include <functional>
#include <vector>

#include "sidecar/ops/counters.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/rules/live_state.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

// True when the event is a batch that changed the sync config (rows or a TRUNCATE of
// livesync.tables / livesync.rules): the caller then ends the subscriptions that lost
// their access (FrameHandler::end_lost_subscriptions). A reset (snapshot) is false.
//
// With pacing, live fan-out bounds what waits for each session: before a batch is fanned
// out, every session it would reach whose send queue holds high_water_bytes or more
// falls behind (fall_behind(s, last entry before this batch): the replay feeds it from
// the stream at its own pace, stream/replay.hpp), so a transaction of any size reaches
// every client that reads, and what waits for one client stays bounded. Sessions whose
// queue is at or above low_water_bytes after the batch are appended to *busy (the
// server waits for them before it takes the next batches), unless pace_excused.
struct Pacing {
    size_t high_water_bytes = SIZE_MAX;
    size_t low_water_bytes = SIZE_MAX;
    std::function<void(session::Session &, common::StreamId through)> fall_behind;
    std::vector<uint64_t> *busy = nullptr;  // serials
};
// first_thread: count and log what concerns the event itself (not a session) here; the
// other service threads apply the same event silently.
bool apply_event(const StreamEvent &event, rules::LiveState &live, session::SessionTable &sessions, ops::Counters &counters,
                 const Pacing *pacing = nullptr, bool first_thread = true);

// Fans one transaction of stream entry `entry` out to live sessions (resuming sessions
// whose replay covers the entry are skipped); exposed for tests.
// shared: the frames every service thread builds for this entry (nullptr: build here).
void fan_out(const common::Transaction &txn, const rules::LiveState &live, session::SessionTable &sessions,
             ops::Counters &counters, common::StreamId entry = common::StreamId{UINT64_MAX, UINT64_MAX},
             SharedFrames *shared = nullptr, size_t txn_index = 0);

// Sends one transaction to one session (a replay page), with the same frames fan-out builds.
// Authorized like fan-out, by `config`: the version in force at txn's commit
// (live.history.at()), so a replayed transaction reaches the session exactly as it
// did the sessions that were live at the time.
// `entry`: the stream entry it came from (the session's subscriptions skip what they had).
void deliver_to(const common::Transaction &txn, const rules::ConfigVersion &config, session::Session &s,
                ops::Counters &counters, common::StreamId entry = common::StreamId{UINT64_MAX, UINT64_MAX});

}  // namespace livesync::stream
