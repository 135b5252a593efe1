#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>

#include "sidecar/daemon_options.hpp"

namespace livesync {
namespace {

using namespace sidecar;

ParsedOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    return parse_daemon_options(args, [env](const char *name) -> const char * {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

TEST(DaemonOptions, DefaultsAreLocal) {
    auto p = parse({"--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.listen(), "127.0.0.1:8080");
    EXPECT_EQ(o.redis_url.host, "127.0.0.1");
    EXPECT_EQ(o.redis_url.port, 6379);
    EXPECT_EQ(o.prefix, "{livesync}:");
    EXPECT_FALSE(o.sidecar_id.empty());
}

TEST(DaemonOptions, ServiceThreadsAndSnapshotQueriesAreCountsFrom1To64) {
    auto d = parse({"--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(d));
    EXPECT_EQ(std::get<DaemonOptions>(d).service_threads, 0u);  // 0: the machine's cores
    EXPECT_EQ(std::get<DaemonOptions>(d).snapshot_queries, 4u);
    auto p = parse({"--allow-anonymous", "--service-threads", "4", "--snapshot-queries=64"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
    EXPECT_EQ(std::get<DaemonOptions>(p).service_threads, 4u);
    EXPECT_EQ(std::get<DaemonOptions>(p).snapshot_queries, 64u);
    auto e = parse({"--allow-anonymous"}, {{"LIVESYNC_SERVICE_THREADS", "2"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(e));
    EXPECT_EQ(std::get<DaemonOptions>(e).service_threads, 2u);
    for (const char *bad : {"0", "65", "-1", "4x", "", "four"}) {
        for (const char *flag : {"--service-threads", "--snapshot-queries"}) {
            auto r = parse({"--allow-anonymous", flag, bad});
            ASSERT_TRUE(std::holds_alternative<OptionsError>(r)) << flag << " " << bad;
            EXPECT_EQ(std::get<OptionsError>(r).message,
                      std::string(flag) + " must be from 1 to 64, not \"" + bad + "\"");
        }
    }
}

// The snapshot tuning options that take a whole number from 0 to a maximum.
struct WholeNumberOption {
    const char *flag;
    const char *env;
    const char *unit;
    unsigned max;
    unsigned fallback;
    unsigned DaemonOptions::*field;
};

TEST(DaemonOptions, SnapshotTuningIsAWholeNumberInRange) {
    for (const WholeNumberOption &o :
         {WholeNumberOption{"--snapshot-share-mb", "LIVESYNC_SNAPSHOT_SHARE_MB", "MiB", 4096, 32,
                            &DaemonOptions::snapshot_share_mb},
          WholeNumberOption{"--snapshot-gather-ms", "LIVESYNC_SNAPSHOT_GATHER_MS", "milliseconds", 1000, 5,
                            &DaemonOptions::snapshot_gather_ms},
          WholeNumberOption{"--snapshot-yield-ms", "LIVESYNC_SNAPSHOT_YIELD_MS", "milliseconds", 10000, 5,
                            &DaemonOptions::snapshot_yield_ms}}) {
        SCOPED_TRACE(o.flag);
        auto d = parse({"--allow-anonymous"});
        ASSERT_TRUE(std::holds_alternative<DaemonOptions>(d));
        EXPECT_EQ(std::get<DaemonOptions>(d).*o.field, o.fallback);
        for (unsigned want : {0u, o.max, 16u}) {
            auto p = parse({"--allow-anonymous", o.flag, std::to_string(want)});
            ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
            EXPECT_EQ(std::get<DaemonOptions>(p).*o.field, want);
        }
        auto e = parse({"--allow-anonymous"}, {{o.env, "12"}});
        ASSERT_TRUE(std::holds_alternative<DaemonOptions>(e));
        EXPECT_EQ(std::get<DaemonOptions>(e).*o.field, 12u);
        auto f = parse({"--allow-anonymous", std::string(o.flag) + "=7"}, {{o.env, "12"}});
        ASSERT_TRUE(std::holds_alternative<DaemonOptions>(f));
        EXPECT_EQ(std::get<DaemonOptions>(f).*o.field, 7u);  // the flag wins
        std::string over = std::to_string(o.max + 1);
        for (const char *bad : {over.c_str(), "-1", "64MiB", "5ms", "", "lots", " 5", "99999999999999999999"}) {
            auto r = parse({"--allow-anonymous", o.flag, bad});
            ASSERT_TRUE(std::holds_alternative<OptionsError>(r)) << bad;
            EXPECT_EQ(std::get<OptionsError>(r).message, std::string(o.flag) + " must be a whole number of " + o.unit +
                                                             " from 0 to " + std::to_string(o.max) + ", not \"" +
                                                             bad + "\"");
            auto env = parse({"--allow-anonymous"}, {{o.env, bad}});
            EXPECT_TRUE(std::holds_alternative<OptionsError>(env)) << bad;
        }
    }
}

TEST(DaemonOptions, FlagsWinOverEnvironment) {
    auto p = parse({"--listen", "127.0.0.1:9001", "--prefix=x:", "--allow-anonymous"},
                   {{"LIVESYNC_LISTEN", "127.0.0.1:9000"}, {"LIVESYNC_PREFIX", "env:"},
                    {"LIVESYNC_REDIS_URL", "redis://:secret@127.0.0.1:7000/2"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.listen_port, 9001);
    EXPECT_EQ(o.prefix, "x:");
    EXPECT_EQ(o.redis_url.port, 7000);
    EXPECT_EQ(o.redis_url.password, "secret");
    EXPECT_EQ(o.redis_url.db, 2);
    EXPECT_EQ(o.redis_url.redacted().find("secret"), std::string::npos);
}

TEST(DaemonOptions, SentinelsFromFlagsOrEnvironment) {
    auto p = parse({"--redis", "redis://:pw@ignored:1/3", "--redis-sentinels", "127.0.0.1:26379,127.0.0.1:26380",
                    "--redis-primary-name", "main", "--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
    const auto &o = std::get<DaemonOptions>(p);
    ASSERT_EQ(o.redis_url.sentinels.size(), 2u);
    EXPECT_EQ(o.redis_url.sentinels[1].port, 26380);
    EXPECT_EQ(o.redis_url.primary_name, "main");
    EXPECT_EQ(o.redis_url.password, "pw");  // the URL still gives the credentials and db
    EXPECT_EQ(o.redis_url.db, 3);
    auto e = parse({"--allow-anonymous"}, {{"LIVESYNC_REDIS_SENTINELS", "s1"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(e));
    EXPECT_EQ(std::get<DaemonOptions>(e).redis_url.sentinels[0].port, 26379);
    EXPECT_EQ(std::get<DaemonOptions>(e).redis_url.primary_name, "livesync");
}

// A file in the temp dir (mode 0600), removed with the test.
class TempFile {
public:
    explicit TempFile(const std::string &text) {
        char name[] = "/tmp/livesyncd-secret-XXXXXX";
        int fd = mkstemp(name);
        close(fd);
        path_ = name;
        std::ofstream(path_) << text;
    }
    ~TempFile() { std::remove(path_.c_str()); }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

// The Redis password from a file or the environment, never needing the command line
// (ps); it replaces a password in --redis and --redis-read.
TEST(DaemonOptions, RedisPasswordFromAFileOrTheEnvironment) {
    TempFile file("from-file\n");
    auto p = parse({"--redis", "redis://app:in-url@127.0.0.1:7000/2", "--redis-read", "redis://127.0.0.1:7001",
                    "--redis-password-file", file.path(), "--allow-anonymous"},
                   {{"LIVESYNC_REDIS_PASSWORD", "from-env"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.redis_url.password, "from-file");
    EXPECT_EQ(o.redis_url.user, "app");
    EXPECT_EQ(o.redis_url.db, 2);
    EXPECT_EQ(o.stream_url().password, "from-file");
    EXPECT_TRUE(o.redis_password_from_file_or_env);

    auto env = parse({"--allow-anonymous"}, {{"LIVESYNC_REDIS_PASSWORD", "from-env"}});
    EXPECT_EQ(std::get<DaemonOptions>(env).redis_url.password, "from-env");
    auto env_file = parse({"--allow-anonymous"}, {{"LIVESYNC_REDIS_PASSWORD_FILE", file.path()}});
    EXPECT_EQ(std::get<DaemonOptions>(env_file).redis_url.password, "from-file");

    auto in_url = parse({"--redis", "redis://:in-url@127.0.0.1:7000", "--allow-anonymous"});
    EXPECT_EQ(std::get<DaemonOptions>(in_url).redis_url.password, "in-url");  // still works
    EXPECT_FALSE(std::get<DaemonOptions>(in_url).redis_password_from_file_or_env);

    auto missing = parse({"--redis-password-file", "/nonexistent/pw", "--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(missing));
    EXPECT_NE(std::get<OptionsError>(missing).message.find("--redis-password-file"), std::string::npos);
}

TEST(DaemonOptions, PresenceTokenFromAFileOrRandomPerStart) {
    auto a = parse({"--allow-anonymous"}), b = parse({"--allow-anonymous"});
    const std::string &ta = std::get<DaemonOptions>(a).presence_token, &tb = std::get<DaemonOptions>(b).presence_token;
    EXPECT_EQ(ta.size(), 64u);
    EXPECT_NE(ta, tb);
    TempFile file("a-presence-token-for-ops\n");
    auto f = parse({"--presence-token-file", file.path(), "--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(f)) << std::get<OptionsError>(f).message;
    EXPECT_EQ(std::get<DaemonOptions>(f).presence_token, "a-presence-token-for-ops");
    TempFile short_token("short\n");
    auto s = parse({"--allow-anonymous"}, {{"LIVESYNC_PRESENCE_TOKEN_FILE", short_token.path()}});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(s));
    EXPECT_NE(std::get<OptionsError>(s).message.find("at least 16 bytes"), std::string::npos);
}

TEST(DaemonOptions, StreamReadsFromTheReadUrlWritesFromTheMainOne) {
    auto p = parse({"--redis", "redis://:pw@10.0.0.1:6379", "--redis-read", "redis://:pw@127.0.0.1:6380",
                    "--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.stream_url().port, 6380);
    EXPECT_EQ(o.stream_url().role, common::RedisRole::Any);
    EXPECT_EQ(o.redis_url.port, 6379);
    EXPECT_EQ(o.redis_url.role, common::RedisRole::Primary);
    auto plain = parse({"--allow-anonymous"});
    EXPECT_EQ(&std::get<DaemonOptions>(plain).stream_url(), &std::get<DaemonOptions>(plain).redis_url);
    auto bad = parse({"--redis-read", "redis://h:0"});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(bad));
    EXPECT_NE(std::get<OptionsError>(bad).message.find("--redis-read"), std::string::npos);
}

TEST(DaemonOptions, BadSentinelSettingsAreErrors) {
    for (const auto &args : std::vector<std::vector<std::string>>{{"--redis-sentinels", "a:1,,b:2"},
                                                                  {"--redis-sentinels", "a:99999"},
                                                                  {"--redis-sentinels", "s", "--redis-primary-name", "a b"},
                                                                  {"--redis-primary-name", "main"}}) {
        auto p = parse(args);
        ASSERT_TRUE(std::holds_alternative<OptionsError>(p)) << args[1];
        EXPECT_NE(std::get<OptionsError>(p).message.find("--redis-"), std::string::npos)
            << std::get<OptionsError>(p).message;
    }
}

TEST(DaemonOptions, BadValuesAreErrorsWithAMessage) {
    for (const auto &args : std::vector<std::vector<std::string>>{{"--listen", "nope"},
                                                                  {"--listen", "127.0.0.1:0"},
                                                                  {"--listen", "127.0.0.1:70000"},
                                                                  {"--listen", ":80"},
                                                                  {"--redis", "http://x"},
                                                                  {"--redis", "redis://h:port"},
                                                                  {"--sidecar-id", "has space"},
                                                                  {"--listen"},
                                                                  {"--bogus", "1"}}) {
        auto p = parse(args);
        ASSERT_TRUE(std::holds_alternative<OptionsError>(p)) << args[0];
        EXPECT_FALSE(std::get<OptionsError>(p).message.empty());
    }
    EXPECT_TRUE(std::holds_alternative<ShowHelp>(parse({"--help"})));
}

TEST(DaemonOptions, AdvertiseUrlDefaultsToListenAndIsPublishedAsGiven) {
    auto d = parse({"--allow-anonymous", "--listen", "0.0.0.0:9000"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(d));
    EXPECT_EQ(std::get<DaemonOptions>(d).advertise_url, "http://0.0.0.0:9000");  // as before the flag
    auto v6 = parse({"--allow-anonymous", "--listen", "[::1]:9000"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(v6));
    EXPECT_EQ(std::get<DaemonOptions>(v6).advertise_url, "http://[::1]:9000");
    const std::pair<const char *, const char *> good[] = {
        {"https://sidecar-1.internal:8443", "https://sidecar-1.internal:8443"},
        {"http://10.0.0.7", "http://10.0.0.7"},
        {"https://[2001:db8::7]:8443/", "https://[2001:db8::7]:8443"},
        {"https://lb.example.com/livesync/a//", "https://lb.example.com/livesync/a"},  // the sweep appends /v1/...
    };
    for (const auto &[given, published] : good) {
        auto p = parse({"--allow-anonymous", "--advertise-url", given});
        ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << given << ": " << std::get<OptionsError>(p).message;
        EXPECT_EQ(std::get<DaemonOptions>(p).advertise_url, published);
    }
    auto env = parse({"--allow-anonymous"}, {{"LIVESYNC_ADVERTISE_URL", "https://env.example:1"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(env));
    EXPECT_EQ(std::get<DaemonOptions>(env).advertise_url, "https://env.example:1");
    auto flag = parse({"--allow-anonymous", "--advertise-url=https://flag.example"},
                      {{"LIVESYNC_ADVERTISE_URL", "https://env.example"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(flag));
    EXPECT_EQ(std::get<DaemonOptions>(flag).advertise_url, "https://flag.example");
}

TEST(DaemonOptions, BadAdvertiseUrlIsAnErrorNamingTheFlag) {
    for (const char *bad : {"", "sidecar:8080", "ftp://h", "wss://h:8443", "https://", "https://:8443",
                            "https:///path", "http://h:", "http://h:0", "http://h:70000", "http://h:port",
                            "http://[::1", "http://[::1]x", "http://2001:db8::1", "https://user:pw@h",
                            "https://h/a?x=1", "https://h/#frag", "https://h /x", "HTTPS://h"}) {
        auto p = parse({"--allow-anonymous", "--advertise-url", bad});
        ASSERT_TRUE(std::holds_alternative<OptionsError>(p)) << bad;
        EXPECT_EQ(std::get<OptionsError>(p).message,
                  std::string("--advertise-url must be an http:// or https:// URL with a host "
                              "(https://HOST[:PORT][/PATH]), not \"") + bad + "\"");
    }
}

TEST(DaemonOptions, TrustedProxiesFromFlagOrEnvironment) {
    auto p = parse({"--allow-anonymous", "--trusted-proxies", "10.0.0.0/8"}, {{"LIVESYNC_TRUSTED_PROXIES", "::1"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    EXPECT_TRUE(std::get<DaemonOptions>(p).trusted_proxies.contains("10.9.9.9"));
    EXPECT_FALSE(std::get<DaemonOptions>(p).trusted_proxies.contains("::1"));
    auto env = parse({"--allow-anonymous"}, {{"LIVESYNC_TRUSTED_PROXIES", "::1"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(env));
    EXPECT_TRUE(std::get<DaemonOptions>(env).trusted_proxies.contains("::1"));
    auto none = parse({"--allow-anonymous"});
    EXPECT_TRUE(std::get<DaemonOptions>(none).trusted_proxies.empty());
    auto bad = parse({"--allow-anonymous", "--trusted-proxies=10.0.0.0/8,x"});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(bad));
    EXPECT_NE(std::get<OptionsError>(bad).message.find("\"x\""), std::string::npos);
}

TEST(DaemonOptions, TlsCertAndKeyGoTogether) {
    auto p = parse({"--allow-anonymous", "--tls-key", "/nonexistent.key"});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(p));
    EXPECT_NE(std::get<OptionsError>(p).message.find("go together"), std::string::npos);
    auto missing = parse({"--allow-anonymous"}, {{"LIVESYNC_TLS_CERT", "/nonexistent.crt"},
                                                  {"LIVESYNC_TLS_KEY", "/nonexistent.key"}});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(missing));
    EXPECT_NE(std::get<OptionsError>(missing).message.find("/nonexistent.crt"), std::string::npos);
}

}  // namespace
}  // namespace livesync
