// The admin API's pure parts: token check, request parsing, the session list, the
// activity report, control entries and livesyncctl's command line.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "sidecar/admin/admin_api.hpp"
#include "sidecar/admin/control_reader.hpp"
#include "sidecar/auth/authenticator.hpp"
#include "sidecar/auth/security_store.hpp"
#include "tools/livesyncctl/ctl_args.hpp"

namespace livesync::admin {
namespace {

TEST(AdminApi, TokenMustMatchExactlyAsBearer) {
    const std::string t = "0123456789abcdef-admin";
    EXPECT_TRUE(sidecar::auth::token_matches(t, "Bearer " + t));
    EXPECT_TRUE(sidecar::auth::token_matches(t, "bearer " + t));
    EXPECT_FALSE(sidecar::auth::token_matches(t, t));
    EXPECT_FALSE(sidecar::auth::token_matches(t, "Bearer " + t + "x"));
    EXPECT_FALSE(sidecar::auth::token_matches(t, "Bearer " + t.substr(1)));
    EXPECT_FALSE(sidecar::auth::token_matches(t, ""));
    EXPECT_FALSE(sidecar::auth::token_matches("", "Bearer "));
}

unsigned status_of(const AdminRequest &r) {
    auto *e = std::get_if<http::HttpResponse>(&r);
    return e ? e->status : 0;
}

TEST(AdminApi, RequestsParseIntoTypedCommands) {
    EXPECT_TRUE(std::holds_alternative<ListSessions>(parse_admin("GET", "/v1/admin/sessions", nullptr, "")));
    EXPECT_TRUE(std::holds_alternative<ListBans>(parse_admin("GET", "/v1/admin/bans", nullptr, "")));
    std::string since = "1700000000";
    EXPECT_EQ(std::get<Activity>(parse_admin("GET", "/v1/admin/activity", &since, "")).since, 1700000000);
    EXPECT_EQ(std::get<Kick>(parse_admin("POST", "/v1/admin/kick", nullptr, R"({"client_id":"c1"})")).client_id, "c1");
    EXPECT_EQ(std::get<Kick>(parse_admin("POST", "/v1/admin/kick", nullptr, R"({"user":"42"})")).user, "42");
    auto ban = std::get<Ban>(parse_admin("POST", "/v1/admin/bans", nullptr, R"({"address":"::1","seconds":60})"));
    EXPECT_EQ(ban.address, "::1");
    EXPECT_EQ(ban.seconds, 60);
    EXPECT_EQ(std::get<Unban>(parse_admin("DELETE", "/v1/admin/bans/10.0.0.1", nullptr, "")).address, "10.0.0.1");
}

TEST(AdminApi, BadRequestsGetClearErrors) {
    std::string bad_since = "yesterday";
    EXPECT_EQ(status_of(parse_admin("GET", "/v1/admin/activity", &bad_since, "")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/sessions", nullptr, "")), 405u);
    EXPECT_EQ(status_of(parse_admin("GET", "/v1/admin/kick", nullptr, "")), 405u);
    EXPECT_EQ(status_of(parse_admin("GET", "/v1/admin/nothing", nullptr, "")), 404u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/kick", nullptr, "{")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/kick", nullptr, R"({"client_id":"a","user":"b"})")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/kick", nullptr, R"({"client_id":""})")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/bans", nullptr, R"({"address":"a b","seconds":5})")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/bans", nullptr, R"({"address":"1.2.3.4","seconds":0})")), 400u);
    EXPECT_EQ(status_of(parse_admin("POST", "/v1/admin/bans", nullptr, R"({"address":"1.2.3.4"})")), 400u);
    EXPECT_EQ(status_of(parse_admin("DELETE", "/v1/admin/bans/x*y", nullptr, "")), 400u);
}

TEST(AdminApi, SessionListShowsWhoIsConnected) {
    session::SessionTable sessions;
    auto &s = sessions.open(nullptr, "10.0.0.9", 1700000000123, 1 << 20, [] {});
    rules::Identity id;
    id.subject = "42";
    id.role = "member";
    id.tenant = "acme";
    s.set_identity(id);
    s.set_client_id("c1");
    s.add_subscription("s1", "public.items", 0);
    sessions.open(nullptr, "10.0.0.8", 0, 1 << 20, [] {});  // not greeted yet
    rapidjson::Document d;
    std::string json = render_sessions(sessions, "sc1");
    d.Parse(json.c_str());
    ASSERT_FALSE(d.HasParseError()) << json;
    const auto &first = d["sessions"][0];
    EXPECT_STREQ(first["client_id"].GetString(), "c1");
    EXPECT_STREQ(first["user"].GetString(), "42");
    EXPECT_STREQ(first["tenant"].GetString(), "acme");
    EXPECT_STREQ(first["role"].GetString(), "member");
    EXPECT_STREQ(first["address"].GetString(), "10.0.0.9");
    EXPECT_EQ(first["connected_at"].GetInt64(), 1700000000);
    EXPECT_STREQ(first["subscriptions"][0]["table"].GetString(), "public.items");
    EXPECT_TRUE(d["sessions"][1]["client_id"].IsNull());
}

TEST(AdminApi, ActivityReportSumsPerTenant) {
    std::string json = sidecar::auth::render_activity(
        100, {{"sub:1", {{"tenant", "a"}, {"sessions", "2"}, {"messages_in", "5"}, {"last_seen", "200000"}}},
              {"sub:2", {{"tenant", "a"}, {"sessions", "1"}, {"messages_out", "7"}, {"last_seen", "300000"}}},
              {"anonymous:1.2.3.4", {{"sessions", "1"}}}});
    rapidjson::Document d;
    d.Parse(json.c_str());
    ASSERT_FALSE(d.HasParseError()) << json;
    EXPECT_EQ(d["users"].Size(), 3u);
    EXPECT_TRUE(d["users"][2]["tenant"].IsNull());
    const auto &a = d["tenants"][1];
    EXPECT_STREQ(a["tenant"].GetString(), "a");
    EXPECT_EQ(a["users"].GetInt(), 2);
    EXPECT_EQ(a["sessions"].GetInt(), 3);
    EXPECT_EQ(a["messages_in"].GetInt(), 5);
    EXPECT_EQ(a["messages_out"].GetInt(), 7);
    EXPECT_EQ(a["last_seen"].GetInt(), 300);
}

TEST(AdminApi, ActivityShowsTheSameSubInTwoTenantsAsTwoUsers) {
    std::string json = sidecar::auth::render_activity(
        100, {{"user:a:1", {{"user", "sub:1"}, {"tenant", "a"}, {"sessions", "2"}, {"last_seen", "200000"}}},
              {"user:b:1", {{"user", "sub:1"}, {"tenant", "b"}, {"sessions", "1"}, {"last_seen", "300000"}}},
              {"sub:9", {{"tenant", "b"}, {"sessions", "4"}}}});  // written before the user field
    rapidjson::Document d;
    d.Parse(json.c_str());
    ASSERT_FALSE(d.HasParseError()) << json;
    ASSERT_EQ(d["users"].Size(), 3u);
    EXPECT_STREQ(d["users"][0]["user"].GetString(), "sub:1");
    EXPECT_STREQ(d["users"][1]["user"].GetString(), "sub:1");
    EXPECT_STREQ(d["users"][1]["tenant"].GetString(), "b");
    EXPECT_STREQ(d["users"][2]["user"].GetString(), "sub:9");
    EXPECT_EQ(d["tenants"][0]["users"].GetInt(), 1);  // a
    EXPECT_EQ(d["tenants"][1]["users"].GetInt(), 2);  // b: user 1 and user 9
    EXPECT_EQ(d["tenants"][1]["sessions"].GetInt(), 5);
}

TEST(ControlStream, EntriesNeedAKnownKindAndATarget) {
    auto kick = parse_control({{"kind", "kick"}, {"client_id", "c1"}});
    ASSERT_TRUE(kick);
    EXPECT_EQ(kick->client_id, "c1");
    EXPECT_TRUE(parse_control({{"kind", "kick"}, {"user", "42"}, {"origin", "sc1"}}));
    EXPECT_FALSE(parse_control({{"kind", "kick"}}));
    EXPECT_FALSE(parse_control({{"kind", "kick"}, {"client_id", "c1"}, {"user", "42"}}));
    EXPECT_TRUE(parse_control({{"kind", "ban"}, {"address", "1.2.3.4"}}));
    EXPECT_FALSE(parse_control({{"kind", "ban"}}));
    EXPECT_FALSE(parse_control({{"kind", "reboot"}, {"client_id", "c1"}}));
}

TEST(Livesyncctl, CommandsBecomeAdminRequests) {
    using namespace ctl;
    auto inv = std::get<Invocation>(parse_ctl_args({"--url", "http://h:1/", "kick", "--user", "4\"2"}, "tok"));
    EXPECT_EQ(inv.url, "http://h:1");
    EXPECT_EQ(inv.token, "tok");
    EXPECT_EQ(inv.method, "POST");
    EXPECT_EQ(inv.path, "/v1/admin/kick");
    EXPECT_EQ(inv.body, R"({"user":"4\"2"})");
    inv = std::get<Invocation>(parse_ctl_args({"ban", "::1", "60", "--token", "t2"}, nullptr));
    EXPECT_EQ(inv.token, "t2");
    EXPECT_EQ(inv.body, R"({"address":"::1","seconds":60})");
    EXPECT_EQ(std::get<Invocation>(parse_ctl_args({"unban", "::1"}, "t")).path, "/v1/admin/bans/::1");
    EXPECT_EQ(std::get<Invocation>(parse_ctl_args({"activity", "--since", "5"}, "t")).path,
              "/v1/admin/activity?since=5");
    EXPECT_EQ(std::get<Invocation>(parse_ctl_args({"sessions"}, "t")).method, "GET");
    EXPECT_TRUE(std::holds_alternative<Help>(parse_ctl_args({"--help"}, nullptr)));
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"sessions"}, {"--token"}, {"kick", "--client"}, {"ban", "1.2.3.4", "soon"}, {"frobnicate"},
             {"activity", "--since", "x"}, {"--url", "ftp://x", "sessions"}}) {
        const char *env = bad == std::vector<std::string>{"sessions"} ? nullptr : "t";
        EXPECT_TRUE(std::holds_alternative<UsageError>(parse_ctl_args(bad, env))) << bad[0];
    }
}

}  // namespace
}  // namespace livesync::admin
