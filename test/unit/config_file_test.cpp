// livesyncd --config FILE: TOML keys mirror the long flags, precedence is flags >
// environment > file > defaults, and unknown keys or wrong types stop with FILE:LINE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "sidecar/config_file.hpp"
#include "sidecar/daemon_options.hpp"

namespace livesync {
namespace {

using namespace sidecar;

// A config file in the temp dir, removed with the test.
class ConfigFile {
public:
    explicit ConfigFile(const std::string &text) {
        char name[] = "/tmp/livesyncd-config-XXXXXX";
        int fd = mkstemp(name);
        close(fd);
        path_ = name;
        std::ofstream(path_) << text;
    }
    ~ConfigFile() { std::remove(path_.c_str()); }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

ParsedOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    return parse_daemon_options(args, [env](const char *name) -> const char * {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

std::string error_of(const ParsedOptions &p) {
    EXPECT_TRUE(std::holds_alternative<OptionsError>(p));
    return std::holds_alternative<OptionsError>(p) ? std::get<OptionsError>(p).message : "";
}

TEST(ConfigFile, FileValuesApplyWhenNothingElseSetsThem) {
    ConfigFile f(R"(# livesyncd.toml
listen = "127.0.0.1:9100"
redis = "redis://127.0.0.1:7001/3"
prefix = "file:"
sidecar_id = "from-file"
max_send_queue = "1MiB"
replay_page_entries = 8
allow_anonymous = true
hello_timeout = 5
jwt_audience = "app"
snapshot_gather_ms = 40
snapshot_share_mb = 8
snapshot_yield_ms = 20
)");
    auto p = parse({"--config", f.path()});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << error_of(p);
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.listen(), "127.0.0.1:9100");
    EXPECT_EQ(o.redis_url.port, 7001);
    EXPECT_EQ(o.redis_url.db, 3);
    EXPECT_EQ(o.prefix, "file:");
    EXPECT_EQ(o.sidecar_id, "from-file");
    EXPECT_EQ(o.sessions.max_send_queue_bytes, 1u << 20);
    EXPECT_EQ(o.sessions.replay_page_entries, 8u);
    EXPECT_TRUE(o.security.auth.allow_anonymous);
    EXPECT_EQ(o.security.auth.hello_timeout_seconds, 5);
    EXPECT_EQ(o.security.auth.policy.audience, "app");
    EXPECT_EQ(o.snapshot_gather_ms, 40u);
    EXPECT_EQ(o.snapshot_share_mb, 8u);
    EXPECT_EQ(o.snapshot_yield_ms, 20u);
}

TEST(ConfigFile, AdvertiseUrlFromTheFileBelowTheEnvironment) {
    ConfigFile f("advertise_url = \"https://sidecar-1.internal:8443\"\nallow_anonymous = true\n");
    auto p = parse({"--config", f.path()});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << error_of(p);
    EXPECT_EQ(std::get<DaemonOptions>(p).advertise_url, "https://sidecar-1.internal:8443");
    auto e = parse({"--config", f.path()}, {{"LIVESYNC_ADVERTISE_URL", "https://from-env:8443"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(e)) << error_of(e);
    EXPECT_EQ(std::get<DaemonOptions>(e).advertise_url, "https://from-env:8443");
    ConfigFile bad("advertise_url = \"sidecar-1:8443\"\nallow_anonymous = true\n");
    EXPECT_EQ(error_of(parse({"--config", bad.path()})).rfind("--advertise-url must be", 0), 0u);
}

TEST(ConfigFile, RedisPasswordAndPresenceTokenFromFilesNamedInIt) {
    ConfigFile password("from-the-password-file\n");
    ConfigFile token("a-presence-token-from-a-file\n");
    ConfigFile f("redis = \"redis://127.0.0.1:7001\"\nredis_password_file = \"" + password.path() +
                 "\"\npresence_token_file = \"" + token.path() + "\"\nallow_anonymous = true\n");
    auto p = parse({"--config", f.path()});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << error_of(p);
    EXPECT_EQ(std::get<DaemonOptions>(p).redis_url.password, "from-the-password-file");
    EXPECT_EQ(std::get<DaemonOptions>(p).presence_token, "a-presence-token-from-a-file");
}

TEST(ConfigFile, FlagsBeatEnvironmentWhichBeatsTheFile) {
    ConfigFile f(R"(listen = "127.0.0.1:9100"
prefix = "file:"
sidecar_id = "from-file"
max_send_queue = 65536
allow_anonymous = true
)");
    auto p = parse({"--config=" + f.path(), "--listen", "127.0.0.1:9300", "--sidecar-id", "from-flag"},
                   {{"LIVESYNC_LISTEN", "127.0.0.1:9200"}, {"LIVESYNC_PREFIX", "env:"}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << error_of(p);
    const auto &o = std::get<DaemonOptions>(p);
    EXPECT_EQ(o.listen_port, 9300);           // flag > environment > file
    EXPECT_EQ(o.prefix, "env:");              // environment > file
    EXPECT_EQ(o.sidecar_id, "from-flag");     // flag > file (no environment variable)
    EXPECT_EQ(o.sessions.max_send_queue_bytes, 65536u);  // file > default
}

TEST(ConfigFile, WithoutTheFileItsValuesAreNotUsed) {
    auto p = parse({"--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    EXPECT_EQ(std::get<DaemonOptions>(p).listen_port, 8080);
}

TEST(ConfigFile, UnknownKeyIsRejectedWithFileAndLine) {
    ConfigFile f("allow_anonymous = true\n\nlisten_address = \"127.0.0.1:1\"\n");
    std::string e = error_of(parse({"--config", f.path()}));
    EXPECT_EQ(e.rfind(f.path() + ":3:1: unknown key \"listen_address\"", 0), 0u) << e;
}

TEST(ConfigFile, WrongTypeIsRejectedWithFileAndLine) {
    ConfigFile f("allow_anonymous = true\nmax_send_queue = true\n");
    std::string e = error_of(parse({"--config", f.path()}));
    EXPECT_EQ(e.rfind(f.path() + ":2:18: \"max_send_queue\" must be a size", 0), 0u) << e;
    EXPECT_NE(e.find("not boolean"), std::string::npos) << e;

    ConfigFile g("listen = 8080\n");
    e = error_of(parse({"--config", g.path()}));
    EXPECT_NE(e.find(":1:10: \"listen\" must be a string, not integer"), std::string::npos) << e;

    ConfigFile t("allow_anonymous = \"yes\"\n");
    e = error_of(parse({"--config", t.path()}));
    EXPECT_NE(e.find("must be a boolean"), std::string::npos) << e;

    ConfigFile nested("[jwt]\naudience = \"app\"\n");
    e = error_of(parse({"--config", nested.path()}));
    EXPECT_NE(e.find(":1:2: unknown key \"jwt\""), std::string::npos) << e;
}

TEST(ConfigFile, SyntaxErrorsAndMissingFilesNameTheFile) {
    ConfigFile f("listen = \"127.0.0.1:1\"\nprefix = \n");
    std::string e = error_of(parse({"--config", f.path()}));
    EXPECT_EQ(e.rfind(f.path() + ":2:", 0), 0u) << e;
    e = error_of(parse({"--config", "/nonexistent/livesyncd.toml"}));
    EXPECT_EQ(e.rfind("/nonexistent/livesyncd.toml: ", 0), 0u) << e;
    EXPECT_EQ(error_of(parse({"--config"})), "--config needs a value");
}

TEST(ConfigFile, ValuesAreCheckedLikeFlags) {
    ConfigFile f("allow_anonymous = true\nlisten = \"nope\"\n");
    EXPECT_NE(error_of(parse({"--config", f.path()})).find("--listen must be HOST:PORT"), std::string::npos);
    ConfigFile gather("allow_anonymous = true\nsnapshot_gather_ms = 1001\n");
    EXPECT_EQ(error_of(parse({"--config", gather.path()})),
              "--snapshot-gather-ms must be a whole number of milliseconds from 0 to 1000, not \"1001\"");
    ConfigFile text("allow_anonymous = true\nsnapshot_gather_ms = \"5\"\n");
    EXPECT_NE(error_of(parse({"--config", text.path()})).find("\"snapshot_gather_ms\" must be an integer"),
              std::string::npos);
}

TEST(ConfigFile, HelpMentionsIt) {
    EXPECT_NE(daemon_usage().find("--config FILE"), std::string::npos);
    EXPECT_TRUE(std::holds_alternative<ShowHelp>(parse({"--config", "/nonexistent", "--help"})));
}

}  // namespace
}  // namespace livesync
