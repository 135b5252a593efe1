#include "sidecar/http/ops_routes.hpp"

#include <chrono>

#include "sidecar/ops/metrics.hpp"

namespace livesync::http {

namespace {

int64_t steady_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int64_t unix_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

HttpResponse readiness_response(const ops::Counters &counters, const rules::LiveState &live) {
    if (!counters.stream_connected.load())
        return HttpResponse{503, R"({"status":"not_ready","reason":"stream reader not connected to Redis"})"};
    if (!live.ready)
        return HttpResponse{503, R"({"status":"not_ready","reason":"stream snapshot not read yet"})"};
    return HttpResponse{200, R"({"status":"ready"})"};
}

HttpResponse metrics_response(const ops::Counters &counters, const rules::LiveState &live,
                              const session::SessionTable &sessions) {
    ops::Gauges g;
    g.sessions_open = sessions.open_everywhere();
    g.stream_ready = counters.stream_connected.load() && live.ready;
    uint64_t handed = counters.stream_entries_handed.load(), applied = counters.stream_entries_applied.load();
    g.stream_lag_entries = handed > applied ? handed - applied : 0;
    int64_t last = counters.last_entry_applied_us.load();
    if (last >= 0) g.last_entry_age_seconds = static_cast<double>(steady_us() - last) / 1e6;
    int64_t commit_lag = counters.last_commit_lag_us.load();
    if (commit_lag != -1) g.commit_lag_seconds = static_cast<double>(commit_lag) / 1e6;
    HttpResponse r{200, ops::render_metrics(counters, g)};
    r.content_type = std::string(ops::kMetricsContentType);
    return r;
}

void record_fanout(ops::Counters &counters, std::chrono::steady_clock::time_point received_at,
                   int64_t newest_commit_unix_us) {
    auto now = std::chrono::steady_clock::now();
    counters.fanout_seconds.observe(std::chrono::duration<double>(now - received_at).count());
    counters.stream_entries_applied.fetch_add(1);
    counters.last_entry_applied_us.store(steady_us());
    if (newest_commit_unix_us > 0) counters.last_commit_lag_us.store(unix_us() - newest_commit_unix_us);
}

}  // namespace livesync::http
