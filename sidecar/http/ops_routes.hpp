// /readyz and /metrics as HTTP answers, from the counters shared with the other threads
// and the state only the service thread holds (live stream state, sessions). Called on
// the service thread.
#pragma once

#include "sidecar/http/http_router.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/rules/live_state.hpp"

namespace livesync::http {

// 200 {"status":"ready"} when the stream reader is connected to Redis and the stream
// snapshot (published tables, rules, tail) was applied; else 503 {"status":"not_ready",
// "reason":..}.
HttpResponse readiness_response(const ops::Counters &counters, const rules::LiveState &live);

HttpResponse metrics_response(const ops::Counters &counters, const rules::LiveState &live,
                              const session::SessionTable &sessions);

// Records that fan-out of one stream entry finished now (histogram, lag gauges).
void record_fanout(ops::Counters &counters, std::chrono::steady_clock::time_point received_at,
                   int64_t newest_commit_unix_us);

}  // namespace livesync::http
