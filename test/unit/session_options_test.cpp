// livesyncd's session flags: send-queue bound and resume page size, flag over env.
#include <gtest/gtest.h>

#include "sidecar/daemon_options.hpp"

namespace livesync {
namespace {

sidecar::ParsedOptions parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.push_back("--allow-anonymous");
    return sidecar::parse_daemon_options(args, [env](const char *name) -> const char * {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
    });
}

TEST(SessionOptions, SendQueueBoundTakesUnitsAndFlagBeatsEnvironment) {
    auto o = std::get<sidecar::DaemonOptions>(parse({"--max-send-queue", "512KiB"}, {{"LIVESYNC_MAX_SEND_QUEUE", "2MiB"}}));
    EXPECT_EQ(o.sessions.max_send_queue_bytes, 512u * 1024);
    o = std::get<sidecar::DaemonOptions>(parse({}, {{"LIVESYNC_MAX_SEND_QUEUE", "2MiB"}}));
    EXPECT_EQ(o.sessions.max_send_queue_bytes, 2u << 20);
    o = std::get<sidecar::DaemonOptions>(parse({}));
    EXPECT_EQ(o.sessions.max_send_queue_bytes, 8u << 20);
    EXPECT_EQ(o.sessions.replay_page_entries, 64u);
    EXPECT_EQ(o.sessions.send_stall_timeout_seconds, 30);
    o = std::get<sidecar::DaemonOptions>(parse({"--send-stall-timeout", "2"}, {{"LIVESYNC_SEND_STALL_TIMEOUT", "9"}}));
    EXPECT_EQ(o.sessions.send_stall_timeout_seconds, 2);
}

TEST(SessionOptions, BadValuesAreRejectedWithTheFlagNamed) {
    for (auto args : std::vector<std::vector<std::string>>{{"--max-send-queue", "lots"},
                                                            {"--max-send-queue", "100"},
                                                            {"--replay-page-entries", "0"},
                                                            {"--send-stall-timeout", "0"},
                                                            {"--send-stall-timeout", "5s"}}) {
        auto r = parse(args);
        ASSERT_TRUE(std::holds_alternative<sidecar::OptionsError>(r)) << args[1];
        EXPECT_NE(std::get<sidecar::OptionsError>(r).message.find(args[0]), std::string::npos);
    }
    EXPECT_EQ(sidecar::parse_byte_size("3MiB"), std::optional<size_t>(3u << 20));
    EXPECT_EQ(sidecar::parse_byte_size("3MB"), std::nullopt);
}

}  // namespace
}  // namespace livesync
