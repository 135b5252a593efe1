#include "sidecar/ops/metrics.hpp"

#include <cstdio>

namespace livesync::ops {

namespace {

void header(std::string &out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

void sample(std::string &out, std::string_view name, std::string_view value) {
    out += name;
    out += ' ';
    out += value;
    out += '\n';
}

void counter(std::string &out, std::string_view name, std::string_view help, uint64_t value) {
    header(out, name, "counter", help);
    sample(out, name, std::to_string(value));
}

void gauge(std::string &out, std::string_view name, std::string_view help, double value) {
    header(out, name, "gauge", help);
    sample(out, name, number(value));
}

// Label values here are error codes (ASCII identifiers) or "other"; escape anyway.
std::string label_value(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void histogram(std::string &out, std::string_view name, std::string_view help, const Histogram &h) {
    header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
        cumulative += h.bucket(i);
        out += name;
        out += "_bucket{le=\"";
        out += i < Histogram::kBounds.size() ? number(Histogram::kBounds[i]) : "+Inf";
        out += "\"} ";
        out += std::to_string(cumulative);
        out += '\n';
    }
    sample(out, std::string(name) + "_sum", number(h.sum_seconds()));
    sample(out, std::string(name) + "_count", std::to_string(cumulative));
}

}  // namespace

std::string render_metrics(const Counters &c, const Gauges &g) {
    std::string out;
    out.reserve(8192);
    gauge(out, "livesync_sessions_open", "WebSocket sessions open now", static_cast<double>(g.sessions_open));
    counter(out, "livesync_sessions_opened_total", "WebSocket sessions opened", c.sessions_opened.load());
    counter(out, "livesync_sessions_closed_total", "WebSocket sessions closed", c.sessions_closed.load());
    counter(out, "livesync_frames_sent_total", "WebSocket messages written to clients", c.frames_sent.load());
    counter(out, "livesync_bytes_sent_total", "payload bytes of the WebSocket messages written to clients",
            c.bytes_sent.load());
    counter(out, "livesync_frames_built_total", "distinct changes frames encoded by fan-out", c.frames_built.load());
    counter(out, "livesync_frames_queued_total", "changes frames queued to sessions (live and replay)",
            c.frames_queued.load());
    histogram(out, "livesync_fanout_seconds",
              "time from a stream entry's arrival from Redis to its frames being queued to every session",
              c.fanout_seconds);
    gauge(out, "livesync_stream_ready", "1 when the stream reader is connected and the snapshot was applied",
          g.stream_ready ? 1 : 0);
    counter(out, "livesync_stream_entries_total", "stream entries read from Redis", c.stream_entries.load());
    counter(out, "livesync_stream_bad_entries_total", "stream entries skipped: not a valid batch",
            c.bad_stream_entries.load());
    gauge(out, "livesync_stream_lag_entries", "stream entries read from Redis and not yet fanned out",
          static_cast<double>(g.stream_lag_entries));
    gauge(out, "livesync_stream_last_entry_age_seconds", "seconds since the last stream entry was fanned out (-1: none)",
          g.last_entry_age_seconds);
    gauge(out, "livesync_stream_commit_lag_seconds",
          "fan-out time minus commit time of the newest fanned-out transaction (-1: none)", g.commit_lag_seconds);
    counter(out, "livesync_slow_clients_dropped_total",
            "sessions closed with 1008: send queue overflow or stalled", c.send_queue_overflows.load() + c.send_queue_stalls.load());
    counter(out, "livesync_catch_ups_total",
            "live sessions that fell behind the stream and were fed from it at their own pace", c.catch_ups.load());
    header(out, "livesync_errors_total", "counter", "error frames sent to clients, by code");
    for (const auto &[code, n] : c.errors_by_code.snapshot())
        sample(out, "livesync_errors_total{code=\"" + label_value(code) + "\"}", std::to_string(n));
    counter(out, "livesync_resumes_total", "sessions that resumed from last_lsn", c.resumes.load());
    counter(out, "livesync_snapshot_queries_total", "snapshot queries sent to Postgres", c.snapshot_queries.load());
    counter(out, "livesync_snapshot_subscriptions_total", "subscriptions that received their snapshot_end",
            c.snapshot_subscriptions.load());
    counter(out, "livesync_snapshot_rows_total", "snapshot rows queued to sessions", c.snapshot_rows.load());
    counter(out, "livesync_snapshot_failures_total", "snapshot queries that failed (snapshot_failed)",
            c.snapshot_failures.load());
    counter(out, "livesync_snapshot_waits_total", "snapshot requests that waited for a query slot",
            c.snapshot_waits.load());
    counter(out, "livesync_snapshot_late_joins_total",
            "snapshot requests that joined a running query after its first rows (fed them from its log)",
            c.snapshot_late_joins.load());
    counter(out, "livesync_snapshot_yields_total",
            "times snapshot traffic slowed down because live changes waited behind it (--snapshot-yield-ms)",
            c.snapshot_yields.load());
    counter(out, "livesync_snapshot_pace_waits_total",
            "times a snapshot query's next rows or a late joiner's feed waited for the slowed-down rate",
            c.snapshot_pace_waits.load());
    counter(out, "livesync_resyncs_total", "resumes answered with resync_required", c.resyncs_required.load());
    counter(out, "livesync_resume_config_missing_total",
            "resumes answered with resync_required because no config version that old was kept",
            c.resume_config_missing.load());
    counter(out, "livesync_stale_config_refused_total",
            "stream resets whose Redis config was older than the one applied (kept the newer one)",
            c.stale_config_refused.load());
    counter(out, "livesync_live_gaps_total",
            "times the stream reader could not prove it had every entry after its position (trimmed past it)",
            c.live_gaps.load());
    counter(out, "livesync_stream_behind_total",
            "times Redis came back with less than the stream reader had read (a failover); it waited for the "
            "replicator to publish it again",
            c.stream_behind.load());
    counter(out, "livesync_live_resyncs_total", "sessions sent resync_required because of a live gap",
            c.live_resyncs.load());
    counter(out, "livesync_replay_entries_total", "stream entries read for resuming sessions",
            c.replay_entries.load());
    counter(out, "livesync_registry_updates_dropped_total", "registry updates dropped: queue full",
            c.registry_ops_dropped.load());
    counter(out, "livesync_auth_failures_total", "sessions closed 4401: missing, bad or expired token",
            c.auth_failures.load());
    counter(out, "livesync_auth_refreshes_total", "tokens refreshed on a live session", c.auth_refreshes.load());
    counter(out, "livesync_sessions_expired_total", "sessions closed 4401 when their token expired",
            c.sessions_expired.load());
    counter(out, "livesync_forbidden_subscriptions_total", "subscriptions refused by access rules",
            c.forbidden_subscriptions.load());
    counter(out, "livesync_subscriptions_revoked_total",
            "subscriptions ended by the server because their table was unpublished or their grant revoked",
            c.subscriptions_revoked.load());
    counter(out, "livesync_rate_limited_total", "connections or messages refused with 4429", c.rate_limited.load());
    counter(out, "livesync_banned_refusals_total", "connections refused: address banned", c.banned_refusals.load());
    counter(out, "livesync_bans_total", "bans imposed by this sidecar", c.bans.load());
    counter(out, "livesync_kicks_total", "sessions closed by an admin or SQL kick", c.kicks.load());
    counter(out, "livesync_client_takeovers_total",
            "hellos here that took over a client id from a session on another sidecar", c.client_takeovers.load());
    counter(out, "livesync_remote_replacements_total",
            "sessions here closed 4409 because their client id said hello on another sidecar",
            c.remote_replacements.load());
    counter(out, "livesync_audit_events_total", "audit events recorded", c.audit_events.load());
    counter(out, "livesync_audit_events_dropped_total", "audit events not written to the audit stream",
            c.audit_events_dropped.load());
    return out;
}

}  // namespace livesync::ops
