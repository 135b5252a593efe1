#include <gtest/gtest.h>

#include <sstream>

#include "sidecar/http/ops_routes.hpp"
#include "sidecar/ops/metrics.hpp"
#include "sidecar/protocol/server_frame.hpp"
#include "sidecar/session/session.hpp"

namespace livesync {
namespace {

// The sample lines of a metric family: name{labels} → value text.
std::map<std::string, std::string> samples(const std::string &text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        size_t space = line.rfind(' ');
        out[line.substr(0, space)] = line.substr(space + 1);
    }
    return out;
}

TEST(Metrics, RendersCountersAndGaugesWithHelpAndType) {
    ops::Counters c;
    c.sessions_opened = 7;
    c.frames_sent = 11;
    c.bytes_sent = 1234;
    c.frames_built = 3;
    c.send_queue_overflows = 2;
    c.resumes = 4;
    c.resyncs_required = 1;
    c.replay_entries = 99;
    c.auth_failures = 5;
    ops::Gauges g;
    g.sessions_open = 6;
    g.stream_ready = true;
    g.stream_lag_entries = 12;
    g.last_entry_age_seconds = 0.5;
    std::string text = ops::render_metrics(c, g);
    auto s = samples(text);
    EXPECT_EQ(s["livesync_sessions_open"], "6");
    EXPECT_EQ(s["livesync_sessions_opened_total"], "7");
    EXPECT_EQ(s["livesync_frames_sent_total"], "11");
    EXPECT_EQ(s["livesync_bytes_sent_total"], "1234");
    EXPECT_EQ(s["livesync_frames_built_total"], "3");
    EXPECT_EQ(s["livesync_slow_clients_dropped_total"], "2");
    EXPECT_EQ(s["livesync_resumes_total"], "4");
    EXPECT_EQ(s["livesync_resyncs_total"], "1");
    EXPECT_EQ(s["livesync_replay_entries_total"], "99");
    EXPECT_EQ(s["livesync_auth_failures_total"], "5");
    EXPECT_EQ(s["livesync_stream_ready"], "1");
    EXPECT_EQ(s["livesync_stream_lag_entries"], "12");
    EXPECT_EQ(s["livesync_stream_last_entry_age_seconds"], "0.5");
    EXPECT_EQ(s["livesync_stream_commit_lag_seconds"], "-1");
    EXPECT_NE(text.find("# TYPE livesync_frames_sent_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("# TYPE livesync_sessions_open gauge\n"), std::string::npos);
    EXPECT_NE(text.find("# HELP livesync_frames_sent_total "), std::string::npos);
    // Every sample name is livesync_<noun>_<unit>, and the text ends with a newline.
    for (const auto &[name, value] : s) EXPECT_EQ(name.rfind("livesync_", 0), 0u) << name;
    EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, HistogramBucketsAreCumulativeWithSumAndCount) {
    ops::Counters c;
    c.fanout_seconds.observe(0.00004);  // first bucket
    c.fanout_seconds.observe(0.0003);   // le=0.0005
    c.fanout_seconds.observe(0.003);    // le=0.005
    c.fanout_seconds.observe(100);      // +Inf only
    auto s = samples(ops::render_metrics(c, {}));
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"5e-05\"}"], "1");
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"0.00025\"}"], "1");
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"0.0005\"}"], "2");
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"0.005\"}"], "3");
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"2.5\"}"], "3");
    EXPECT_EQ(s["livesync_fanout_seconds_bucket{le=\"+Inf\"}"], "4");
    EXPECT_EQ(s["livesync_fanout_seconds_count"], "4");
    EXPECT_NEAR(std::stod(s["livesync_fanout_seconds_sum"]), 100.00334, 1e-6);
}

TEST(Metrics, ErrorsAreCountedByCodeLabel) {
    ops::Counters c;
    c.errors_by_code.count("bad_json");
    c.errors_by_code.count("bad_json");
    c.errors_by_code.count("unknown_table");
    std::string text = ops::render_metrics(c, {});
    auto s = samples(text);
    EXPECT_EQ(s["livesync_errors_total{code=\"bad_json\"}"], "2");
    EXPECT_EQ(s["livesync_errors_total{code=\"unknown_table\"}"], "1");
    EXPECT_NE(text.find("# TYPE livesync_errors_total counter\n"), std::string::npos);
}

TEST(Metrics, ErrorCodesAreBounded) {
    ops::ErrorCounts counts;
    for (size_t i = 0; i < ops::ErrorCounts::kMaxCodes + 10; ++i) counts.count("code" + std::to_string(i));
    auto snap = counts.snapshot();
    EXPECT_EQ(snap.size(), ops::ErrorCounts::kMaxCodes + 1);
    EXPECT_EQ(snap["other"], 10u);
}

TEST(Metrics, AnErrorFrameCarriesItsCodeInBothEncodingsAndNoOtherFrameDoes) {
    for (auto encoding : {protocol::Encoding::Json, protocol::Encoding::Msgpack}) {
        session::Session s(1, nullptr, "a", 0, 1 << 20, [] {});
        s.set_encoding(encoding);
        s.send_error("unknown_table", "no \"such\" table", std::nullopt);
        s.send_text(protocol::encode_pong(std::nullopt));
        s.send_text(R"({"type":"changes","changes":[{"code":"error"}]})");
        ASSERT_EQ(s.queue().size(), 3u);
        EXPECT_EQ(s.queue().front()->error_code, "unknown_table");
        std::string_view payload = protocol::frame_payload(s.queue().front());
        if (encoding == protocol::Encoding::Json) EXPECT_EQ(payload.substr(0, 31), R"({"type":"error","code":"unknown)");
        else EXPECT_EQ(static_cast<unsigned char>(payload[0]) & 0xf0, 0x80);  // a msgpack map
        s.queue().pop();
        EXPECT_EQ(s.queue().front()->error_code, "");
        s.queue().pop();
        EXPECT_EQ(s.queue().front()->error_code, "");
    }
}

TEST(Readyz, ReadyOnlyWhenTheReaderIsConnectedAndTheSnapshotApplied) {
    ops::Counters c;
    rules::LiveState live;
    auto r = http::readiness_response(c, live);
    EXPECT_EQ(r.status, 503u);
    EXPECT_NE(r.body.find("not connected to Redis"), std::string::npos) << r.body;
    c.stream_connected = true;
    r = http::readiness_response(c, live);
    EXPECT_EQ(r.status, 503u);
    EXPECT_NE(r.body.find("snapshot"), std::string::npos) << r.body;
    live.ready = true;
    EXPECT_EQ(http::readiness_response(c, live).status, 200u);
    c.stream_connected = false;  // Redis went away after the snapshot
    EXPECT_EQ(http::readiness_response(c, live).status, 503u);
}

TEST(MetricsResponse, ReportsLagOpenSessionsAndFanoutObservations) {
    ops::Counters c;
    rules::LiveState live;
    session::SessionTable sessions;
    sessions.open(nullptr, "a", 0, 1024, [] {});
    c.stream_entries_handed = 5;
    http::record_fanout(c, std::chrono::steady_clock::now(), 0);
    http::record_fanout(c, std::chrono::steady_clock::now(), 0);
    auto r = http::metrics_response(c, live, sessions);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, std::string(ops::kMetricsContentType));
    auto s = samples(r.body);
    EXPECT_EQ(s["livesync_stream_lag_entries"], "3");
    EXPECT_EQ(s["livesync_sessions_open"], "1");
    EXPECT_EQ(s["livesync_fanout_seconds_count"], "2");
    EXPECT_EQ(s["livesync_stream_ready"], "0");
    EXPECT_GE(std::stod(s["livesync_stream_last_entry_age_seconds"]), 0.0);
}

}  // namespace
}  // namespace livesync
