// resync_required: what a session is told when the stream cannot prove it holds what the
// session would receive next -- its resume started further back than the stream reaches
// (stream/replay.cpp), or the live reader found a gap (a StreamReset with gap_after).
// From that frame on the session's subscriptions are live after the given position,
// exactly as a fresh subscription would be, and any replay in progress is abandoned.
#pragma once

#include <cstddef>

#include "sidecar/ops/counters.hpp"
#include "sidecar/session/session.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/rules/live_state.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

// Sends {"type":"resync_required","lsn":<live.position>} (in the session's encoding)
// and makes the session live after live.position.
void require_resync(session::Session &s, const rules::LiveState &live);

// After `reset` (already applied to live) was taken because of a gap: every greeted
// session -- live or still replaying -- gets resync_required; the gap is counted and
// logged where count_gap is set (the first service thread only).
// Returns how many sessions were told.
size_t resync_after_gap(const StreamReset &reset, const rules::LiveState &live, session::SessionTable &sessions,
                        ops::Counters &counters, bool count_gap = true);

}  // namespace livesync::stream
