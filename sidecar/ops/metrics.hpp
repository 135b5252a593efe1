// /metrics in the Prometheus text exposition format (version 0.0.4): every counter of
// ops::Counters plus the gauges only the service thread knows (open sessions, stream
// lag). Names are livesync_<noun>_<unit>; docs/operations.md lists them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sidecar/ops/counters.hpp"

namespace livesync::ops {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// Values read at scrape time on the service thread.
struct Gauges {
    uint64_t sessions_open = 0;
    bool stream_ready = false;            // snapshot applied and the reader connected
    uint64_t stream_lag_entries = 0;      // read from Redis, not yet fanned out
    double last_entry_age_seconds = -1;   // since the last entry was fanned out; -1: none yet
    double commit_lag_seconds = -1;       // fan-out time minus commit time of the newest applied transaction
};

std::string render_metrics(const Counters &counters, const Gauges &gauges);

}  // namespace livesync::ops
