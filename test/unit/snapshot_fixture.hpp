// The sidecar side of snapshots under test (snapshot_test.cpp, snapshot_share_test.cpp):
// a session table, live state with two published tables granted to anonymous, a replay
// coordinator whose page requests are recorded, and a SnapshotCoordinator whose queries go
// to FakeQueries; events are fed as the reader would deliver them.
#pragma once

#include <gtest/gtest.h>

#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth_fixture.hpp"
#include "msgpack_change.hpp"
#include "sidecar/session/frame_handler.hpp"
#include "sidecar/snapshot/snapshot_coordinator.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/stream/replay.hpp"

namespace livesync::test::snapshot_fixture {

using common::StreamId;

struct NoRegistry : registry::RegistrySink {
    void upsert(registry::ClientRecord) override {}
    void remove(const std::string &, uint64_t) override {}
};

// The first job of service thread 0 (job ids carry their thread in the low bits).
constexpr uint64_t kFirstJob = uint64_t{1} << session::kShardBits;

struct FakeQueries : snapshot::SnapshotQueries {
    void submit(snapshot::SnapshotQuery q) override { submitted.push_back(q); }
    void more(uint64_t job) override { ++mores[job]; }
    void cancel(uint64_t job) override { cancelled.push_back(job); }
    size_t max_queries() const override { return max; }
    size_t max = 2;
    std::vector<snapshot::SnapshotQuery> submitted;
    std::map<uint64_t, int> mores;
    std::vector<uint64_t> cancelled;
};

inline common::Value text(const char *s) {
    common::Value v;
    v.kind = common::Value::Kind::Text;
    v.s = s;
    return v;
}

inline stream::StreamBatch entry(uint64_t lsn, uint32_t xid, int64_t id, const char *table = "items") {
    std::string error;
    auto b = common::decode_batch(batch(lsn, xid, {change("i", "public", table, {{"id", i64(id)}})}), &error);
    EXPECT_TRUE(b) << error;
    return stream::StreamBatch{StreamId{lsn, 0}, std::move(*b)};
}

inline std::string row(int64_t id, const char *owner) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    msgpack_pack_map(&pk, 2);
    pack_str(pk, "id");
    msgpack_pack_int64(&pk, id);
    pack_str(pk, "owner");
    pack_str(pk, owner);
    return out;
}

class SnapshotTest : public ::testing::Test {
protected:
    SnapshotTest()
        : handler("sc1", sessions, live, registry, anonymous.gate),
          replay(sessions, live, counters, [this](stream::ReplayRequest r) { requests.push_back(r); }, 1 << 20),
          snapshots(sessions, live, replay, &queries, 1 << 20) {
        handler.set_resumer(&replay);
        handler.set_snapshots(&snapshots);
        snapshots.set_counters(&counters);
        live.ready = true;
        for (const char *table : {"items", "other"}) {
            common::Change row;
            row.schema = "livesync";
            row.table = "tables";
            row.new_values = {{"schema_name", text("public")}, {"table_name", text(table)}};
            live.tables.apply(row);
            grant(live, "anonymous", std::string("public.") + table);
        }
        apply(entry(100, 90, 1));
        apply(entry(200, 91, 2));
    }
    void apply(stream::StreamBatch b) {
        for (const common::Transaction &t : b.batch.transactions) snapshots.record_commit(t.xid, t.lsn);
        stream::StreamEvent e = std::move(b);
        stream::apply_event(e, live, sessions, counters);
    }
    void event(snapshot::SnapshotEvent::Kind kind, std::vector<std::string> rows = {},
               const char *xids = "95:100:97", uint64_t bound = 250) {
        snapshot::SnapshotEvent e;
        e.job = kFirstJob;
        e.kind = kind;
        e.snapshot_text = xids;
        e.wal_bound = bound;
        if (kind == snapshot::SnapshotEvent::Kind::Started) e.config = snapshot_config ? snapshot_config : config_now();
        e.pages = {page_of(rows)};
        snapshots.on_event(e);
    }
    // The config as the sidecar holds it now (what a snapshot taken now would read).
    std::shared_ptr<const rules::ConfigVersion> config_now() const {
        return std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules});
    }
    // A session at address that says hello as client_id and subscribes "s1" to items with
    // a snapshot.
    session::Session &snapshot_client(const char *address, const char *client_id) {
        auto &s = sessions.open(nullptr, address, 0, 8 << 20, [] {});
        handler.on_text(s, std::string(R"({"type":"hello","client_id":")") + client_id + R"("})");
        handler.on_text(s, R"({"type":"subscribe","id":"s1","table":"items","snapshot":true})");
        return s;
    }
    // Rows back to back, as livesync.snapshot_pages returns a page.
    static std::string page_of(const std::vector<std::string> &rows) {
        std::string out;
        for (const std::string &r : rows) out += r;
        return out;
    }
    void page(session::Session &s, std::vector<stream::StreamBatch> entries) {
        ASSERT_FALSE(requests.empty());
        stream::ReplayPage p;
        p.session_serial = s.serial();
        p.after = requests.back().after;
        p.entries = std::move(entries);
        requests.clear();
        replay.on_page(p);
    }
    // Frames queued since the last call: "type", "changes:<lsn>:<sub>=<ids>", "snapshot_rows:<id>=<ids>".
    std::vector<std::string> drain(session::Session &s) {
        std::vector<std::string> out;
        while (!s.queue().empty()) {
            rapidjson::Document d;
            std::string payload(protocol::frame_payload(s.queue().front()));
            d.Parse(payload.c_str());
            s.queue().pop();
            std::string t = d["type"].GetString();
            if (t == "changes") {
                t += std::string(":") + d["lsn"].GetString() + ":";
                for (auto &c : d["changes"].GetArray())
                    t += std::string(c["sub"][0].GetString()) + "=" + std::to_string(c["new"]["id"].GetInt());
            } else if (t == "snapshot_rows") {
                t += std::string(":") + d["id"].GetString() + "=";
                for (auto &r : d["rows"].GetArray()) t += std::to_string(r["id"].GetInt()) + ",";
            } else if (d.HasMember("lsn")) {
                t += std::string(":") + d["lsn"].GetString();
            }
            out.push_back(t);
        }
        return out;
    }

    session::SessionTable sessions;
    rules::LiveState live;
    NoRegistry registry;
    ops::Counters counters;
    test::AnonymousGate anonymous;
    session::FrameHandler handler;
    std::vector<stream::ReplayRequest> requests;
    stream::ReplayCoordinator replay;
    FakeQueries queries;
    snapshot::SnapshotCoordinator snapshots;
    std::shared_ptr<const rules::ConfigVersion> snapshot_config;  // nullptr: config_now()
};

}  // namespace livesync::test::snapshot_fixture
