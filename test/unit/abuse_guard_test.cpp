// Rate limits, auth-failure bans and the ban cache of one sidecar, and the flags that
// configure them.
#include <gtest/gtest.h>

#include <map>

#include "sidecar/auth/abuse_guard.hpp"
#include "sidecar/daemon_options.hpp"

namespace livesync::sidecar::auth {
namespace {

TEST(AbuseGuard, RateLimitParsingAcceptsRateColonBurstOrOff) {
    auto r = parse_rate_limit("20:40");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->per_second, 20);
    EXPECT_EQ(r->burst, 40);
    EXPECT_EQ(parse_rate_limit("0.5:1")->per_second, 0.5);
    EXPECT_EQ(parse_rate_limit("off")->per_second, 0);
    for (const char *bad : {"", "20", "20:", ":40", "a:b", "-1:5", "5:0", "5:-1", "1e3:5", "20:40:1", "nan:1"})
        EXPECT_FALSE(parse_rate_limit(bad)) << bad;
}

TEST(AbuseGuard, ConnectionsPerAddressAreLimited) {
    AbuseConfig c;
    c.connections = {1, 2};
    AbuseGuard g(c);
    EXPECT_TRUE(g.allow_connection("10.0.0.1", 0));
    EXPECT_TRUE(g.allow_connection("10.0.0.1", 0));
    EXPECT_FALSE(g.allow_connection("10.0.0.1", 0));
    EXPECT_TRUE(g.allow_connection("10.0.0.2", 0));
    EXPECT_TRUE(g.allow_connection("10.0.0.1", 1000));
}

TEST(AbuseGuard, AuthFailuresWithinTheWindowBanOnce) {
    AbuseConfig c;
    c.ban_after = 3;
    c.ban_window_seconds = 10;
    AbuseGuard g(c);
    EXPECT_FALSE(g.auth_failed("a", 0));
    EXPECT_FALSE(g.auth_failed("a", 1000));
    EXPECT_FALSE(g.auth_failed("a", 20000));  // the first two left the window
    EXPECT_FALSE(g.auth_failed("a", 21000));
    EXPECT_TRUE(g.auth_failed("a", 22000));
    g.ban("a", 82000, 22000);
    EXPECT_TRUE(g.banned("a", 50000));
    EXPECT_FALSE(g.banned("a", 82000));
    EXPECT_FALSE(g.auth_failed("a", 23000));  // already banned: no second ban
    c.ban_after = 0;
    AbuseGuard never(c);
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(never.auth_failed("a", i));
}

TEST(AbuseGuard, SharedBansReplaceTheCacheButRecentLocalChangesStand) {
    AbuseGuard g(AbuseConfig{});
    g.ban("local", 100000, 1000);
    g.replace_bans({{"remote", 90000}, {"expired", 500}}, 2000);
    EXPECT_TRUE(g.banned("remote", 2000));
    EXPECT_FALSE(g.banned("expired", 2000));
    EXPECT_TRUE(g.banned("local", 2000));  // the refresh may predate its write
    g.unban("remote", 3000);
    g.replace_bans({{"remote", 90000}}, 4000);
    EXPECT_FALSE(g.banned("remote", 4000));
    g.replace_bans({{"remote", 90000}}, 20000);  // long after: Redis is the truth again
    EXPECT_TRUE(g.banned("remote", 20000));
    EXPECT_FALSE(g.banned("local", 20000));
    auto bans = g.bans(20000);
    ASSERT_EQ(bans.size(), 1u);
    EXPECT_EQ(bans[0].first, "remote");
}

TEST(AbuseGuard, OwnerKeysSeparateUsersAnonymousAndUnauthenticated) {
    EXPECT_EQ(owner_key(true, false, "42", "1.2.3.4"), "sub:42");
    EXPECT_EQ(owner_key(true, true, "", "1.2.3.4"), "anonymous:1.2.3.4");
    EXPECT_EQ(owner_key(false, false, "", "1.2.3.4"), "address:1.2.3.4");
}

ParsedOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.push_back("--allow-anonymous");
    return parse_daemon_options(args, [env](const char *name) -> const char * {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

TEST(AbuseOptions, DefaultsFlagsAndEnvironment) {
    auto p = parse({});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    const auto &d = std::get<DaemonOptions>(p).security;
    EXPECT_EQ(d.abuse.connections.per_second, 20);
    EXPECT_EQ(d.abuse.messages.burst, 100);
    EXPECT_EQ(d.abuse.ban_after, 20);
    EXPECT_TRUE(d.admin_token.empty());
    p = parse({"--rate-connections", "5:10", "--rate-messages=off", "--ban-after", "3", "--ban-window", "30",
               "--ban-seconds", "90"},
              {{"LIVESYNC_ADMIN_TOKEN", "0123456789abcdef"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
    const auto &o = std::get<DaemonOptions>(p).security;
    EXPECT_EQ(o.abuse.connections.burst, 10);
    EXPECT_EQ(o.abuse.messages.per_second, 0);
    EXPECT_EQ(o.abuse.ban_after, 3);
    EXPECT_EQ(o.abuse.ban_window_seconds, 30);
    EXPECT_EQ(o.abuse.ban_seconds, 90);
    EXPECT_EQ(o.admin_token, "0123456789abcdef");
}

TEST(AbuseOptions, BadValuesAreRefusedWithAMessageNamingTheFlag) {
    std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--rate-connections", "fast"}, "--rate-connections"},
        {{"--rate-messages", "10"}, "--rate-messages"},
        {{"--ban-after", "-1"}, "--ban-after"},
        {{"--ban-window", "0"}, "--ban-window"},
        {{"--ban-seconds", "x"}, "--ban-seconds"},
        {{"--admin-token", "short"}, "--admin-token"},
    };
    for (const auto &[args, flag] : cases) {
        auto p = parse(args);
        ASSERT_TRUE(std::holds_alternative<OptionsError>(p)) << args[0];
        EXPECT_NE(std::get<OptionsError>(p).message.find(flag), std::string::npos) << std::get<OptionsError>(p).message;
    }
}

}  // namespace
}  // namespace livesync::sidecar::auth
