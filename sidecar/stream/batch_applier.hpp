// Applies the reader's events on the lws thread, in stream order: a reset replaces the
// published tables; a batch updates them with its config changes and fans each
// transaction out to the subscribed sessions.
#pragma once

#include "sidecar/ops/counters.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/stream/live_state.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

void apply_event(StreamEvent &event, LiveState &live, session::SessionTable &sessions, ops::Counters &counters);

// Fans one transaction out; exposed for tests.
void fan_out(const common::Transaction &txn, session::SessionTable &sessions, ops::Counters &counters);

}  // namespace livesync::stream
