// One client id, one live session across sidecars: replace entries are parsed
// defensively, close only an older session of their id (never the newest, wherever it
// said hello), and also reach a hello whose claim was answered after the replace came in.
#include <gtest/gtest.h>

#include "auth_fixture.hpp"
#include "sidecar/admin/client_handover.hpp"
#include "sidecar/admin/control_reader.hpp"
#include "sidecar/admin/security_hub.hpp"
#include "sidecar/session/frame_handler.hpp"

namespace livesync {
namespace {

using admin::ControlCommand;
using admin::parse_control;
using sidecar::auth::ClaimOutcome;
using sidecar::auth::ClaimResult;

struct PendingClaims : sidecar::auth::OwnershipClaims {
    bool claim(uint64_t, std::string, std::string) override { return true; }
};

struct NoRegistry : registry::RegistrySink {
    void upsert(registry::ClientRecord) override {}
    void remove(const std::string &, uint64_t) override {}
};

ControlCommand replace_of(const std::string &client_id, uint64_t generation, const std::string &holder = "sc2") {
    ControlCommand c;
    c.kind = "replace";
    c.client_id = client_id;
    c.generation = generation;
    c.holder = holder;
    return c;
}

TEST(ControlStream, ReplaceEntriesNeedClientIdHolderAndAPositiveGeneration) {
    auto ok = parse_control({{"kind", "replace"}, {"client_id", "c1"}, {"generation", "1796103479091749"},
                             {"holder", "sc2"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->client_id, "c1");
    EXPECT_EQ(ok->generation, 1796103479091749u);
    EXPECT_EQ(ok->holder, "sc2");
    for (const char *bad : {"", "0", "-1", "+5", " 5", "5 ", "12x", "0x10", "1e15", "99999999999999999999999"}) {
        std::string why;
        EXPECT_FALSE(parse_control({{"kind", "replace"}, {"client_id", "c1"}, {"generation", bad}, {"holder", "sc2"}},
                                   &why))
            << "generation \"" << bad << "\"";
        EXPECT_NE(why.find("generation"), std::string::npos) << why;
    }
    std::string why;
    EXPECT_FALSE(parse_control({{"kind", "replace"}, {"generation", "5"}, {"holder", "sc2"}}, &why));
    EXPECT_EQ(why, "replace needs client_id and holder");
    EXPECT_FALSE(parse_control({{"kind", "replace"}, {"client_id", "c1"}, {"generation", "5"}}, &why));
    EXPECT_FALSE(parse_control({{"kind", "Replace"}, {"client_id", "c1"}, {"generation", "5"}, {"holder", "x"}}, &why));
    EXPECT_EQ(why, "unknown kind");
}

TEST(RecentReplaces, RemembersTheNewestGenerationForAWhileAndStaysBounded) {
    admin::RecentReplaces recent(3, 1000);
    recent.note("a", 5, 0);
    recent.note("a", 9, 10);
    EXPECT_EQ(recent.newest("a", 20), 9u);
    EXPECT_EQ(recent.newest("b", 20), 0u);
    EXPECT_EQ(recent.newest("a", 1005), 9u) << "the older note expired, the newer one is still kept";
    EXPECT_EQ(recent.newest("a", 1011), 0u);
    for (int i = 0; i < 10; ++i) recent.note("id" + std::to_string(i), 1, 2000);
    EXPECT_EQ(recent.size(), 3u);
    EXPECT_EQ(recent.newest("id9", 2000), 1u);
    EXPECT_EQ(recent.newest("id0", 2000), 0u);
}

TEST(RecentReplaces, ANewerReplaceAlwaysWinsAndTheSameGenerationNeverCloses) {
    EXPECT_TRUE(admin::replace_closes(5, 6));
    EXPECT_FALSE(admin::replace_closes(6, 6)) << "the replacing session itself";
    EXPECT_FALSE(admin::replace_closes(7, 6)) << "a newer session of the id";
    EXPECT_TRUE(admin::replace_closes(0, 1)) << "a session whose claim predates generations";
}

class ReplaceOnThisSidecar : public ::testing::Test {
protected:
    ReplaceOnThisSidecar()
        : handler("sc1", sessions, live, registry, gate.gate),
          hub(admin::HubConfig{"sc1", ""}, gate.gate, nullptr, gate.counters, gate.audit) {
        live.ready = true;
        handler.set_ownership(&claims);
        hub.bind(sessions, handler, [](struct lws *, http::HttpResponse, bool) { return 0; }, [] {},
                 [](struct lws *) { return std::string("127.0.0.1"); });
    }
    // A session that said hello with client_id; its claim is answered with generation.
    session::Session &hello(const std::string &client_id, uint64_t generation, std::string replaced = "") {
        session::Session &s = sessions.open(nullptr, "10.0.0.1", 0, 1 << 20, [] {});
        handler.on_text(s, R"({"type":"hello","client_id":")" + client_id + "\"}");
        EXPECT_TRUE(s.hello_pending);
        answer(s, client_id, generation, std::move(replaced));
        return s;
    }
    void answer(session::Session &s, const std::string &client_id, uint64_t generation, std::string replaced = "") {
        hub.push(sidecar::auth::StoreResult(ClaimResult{s.serial(), client_id, ClaimOutcome::Owned, generation,
                                                        std::move(replaced)}));
        hub.drain();
    }
    void control(ControlCommand c) {
        hub.push(std::move(c));
        hub.drain();
    }
    test::AnonymousGate gate;
    session::SessionTable sessions;
    rules::LiveState live;
    NoRegistry registry;
    PendingClaims claims;
    session::FrameHandler handler;
    admin::SecurityHub hub;
};

TEST_F(ReplaceOnThisSidecar, ANewerHelloElsewhereClosesTheSessionHere4409) {
    session::Session &s = hello("dev-1", 5);
    EXPECT_EQ(s.claim_generation, 5u);
    EXPECT_EQ(sessions.find_client("dev-1"), &s);
    control(replace_of("dev-1", 6));
    ASSERT_TRUE(s.close_request());
    EXPECT_EQ(s.close_request()->code, 4409);
    EXPECT_EQ(s.close_request()->reason, "client_id connected again");
    EXPECT_EQ(gate.counters.remote_replacements.load(), 1u);
}

TEST_F(ReplaceOnThisSidecar, AReplaceNeverClosesANewerSessionOfTheIdHere) {
    // dev-1 went to sc2 (generation 6) and came back here (7) before sc2's replace arrived.
    session::Session &s = hello("dev-1", 7);
    control(replace_of("dev-1", 6));
    EXPECT_FALSE(s.close_request());
    control(replace_of("dev-1", 7, "sc1"));  // this sidecar's own entry for this very session
    EXPECT_FALSE(s.close_request());
    control(replace_of("dev-2", 99));  // another id
    EXPECT_FALSE(s.close_request());
    EXPECT_EQ(gate.counters.remote_replacements.load(), 0u);
}

TEST_F(ReplaceOnThisSidecar, AReplaceThatArrivesBeforeTheClaimAnswerClosesTheLateHello) {
    session::Session &late = sessions.open(nullptr, "10.0.0.1", 0, 1 << 20, [] {});
    handler.on_text(late, R"({"type":"hello","client_id":"dev-1"})");
    control(replace_of("dev-1", 6));  // generation 6 said hello on sc2 after this hello's claim (5)
    EXPECT_FALSE(late.close_request());
    answer(late, "dev-1", 5);
    ASSERT_TRUE(late.close_request());
    EXPECT_EQ(late.close_request()->code, 4409);

    session::Session &newer = sessions.open(nullptr, "10.0.0.1", 0, 1 << 20, [] {});
    handler.on_text(newer, R"({"type":"hello","client_id":"dev-1"})");
    answer(newer, "dev-1", 8);
    EXPECT_FALSE(newer.close_request()) << "a claim newer than every replace seen stays";
    EXPECT_EQ(sessions.find_client("dev-1"), &newer);
}

TEST_F(ReplaceOnThisSidecar, TakingAnIdOverFromAnotherSidecarIsCounted) {
    session::Session &s = hello("dev-1", 5, "sc2");
    EXPECT_FALSE(s.close_request());
    EXPECT_EQ(gate.counters.client_takeovers.load(), 1u);
    hello("dev-3", 6);
    EXPECT_EQ(gate.counters.client_takeovers.load(), 1u);
}

}  // namespace
}  // namespace livesync
