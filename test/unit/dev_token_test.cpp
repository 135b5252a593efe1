#include "tools/livesyncctl/dev_token.hpp"

#include <gtest/gtest.h>

#include "sidecar/auth/token_verifier.hpp"

namespace livesync {
namespace {

const std::string kSecret = "dev-token-test-secret-0123456789abcdef";
constexpr int64_t kNow = 1800000000;

ctl::TokenRequest request(std::vector<std::string> args, const char *env = nullptr) {
    auto r = ctl::parse_token_args(args, env);
    EXPECT_TRUE(std::holds_alternative<ctl::TokenRequest>(r))
        << (std::holds_alternative<ctl::TokenError>(r) ? std::get<ctl::TokenError>(r).message : "");
    return std::holds_alternative<ctl::TokenRequest>(r) ? std::get<ctl::TokenRequest>(r) : ctl::TokenRequest{};
}

std::string error_of(std::vector<std::string> args, const char *env = nullptr) {
    auto r = ctl::parse_token_args(args, env);
    EXPECT_TRUE(std::holds_alternative<ctl::TokenError>(r));
    return std::holds_alternative<ctl::TokenError>(r) ? std::get<ctl::TokenError>(r).message : "";
}

TEST(DevToken, MintedTokenPassesLivesyncdsVerifier) {
    ctl::TokenRequest r = request({"--sub", "alice", "--role", "member", "--tenant", "acme", "--channels", "org:1:*,news",
                                   "--claim", "plan=pro", "--ttl", "600"},
                                  kSecret.c_str());
    std::string token = ctl::mint_token(r, kNow);
    sidecar::auth::TokenVerifier verifier(sidecar::auth::TokenKeys{kSecret, "", ""}, sidecar::auth::TokenPolicy{});
    auto verified = verifier.verify(token, kNow + 1);
    ASSERT_TRUE(std::holds_alternative<sidecar::auth::VerifiedToken>(verified))
        << std::get<sidecar::auth::TokenError>(verified).message;
    const auto &v = std::get<sidecar::auth::VerifiedToken>(verified);
    EXPECT_EQ(v.subject, "alice");
    EXPECT_EQ(v.expires_at, kNow + 600);
    // Another secret does not verify it; after the ttl it has expired.
    sidecar::auth::TokenVerifier other(sidecar::auth::TokenKeys{kSecret + "x", "", ""}, sidecar::auth::TokenPolicy{});
    EXPECT_TRUE(std::holds_alternative<sidecar::auth::TokenError>(other.verify(token, kNow + 1)));
    EXPECT_TRUE(std::holds_alternative<sidecar::auth::TokenError>(verifier.verify(token, kNow + 700)));
}

TEST(DevToken, SecretFromFlagWinsOverEnvironment) {
    EXPECT_EQ(request({"--sub", "a", "--secret", kSecret}, "short").secret, kSecret);
    EXPECT_EQ(request({"--sub", "a"}, kSecret.c_str()).ttl_seconds, 3600);
}

TEST(DevToken, RejectsBadArgumentsClearly) {
    EXPECT_NE(error_of({"--role", "member"}, kSecret.c_str()).find("--sub is required"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a"}, "too-short").find("at least 32 bytes"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a"}).find("at least 32 bytes"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--ttl", "0"}, kSecret.c_str()).find("--ttl"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--ttl", "1h"}, kSecret.c_str()).find("--ttl"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--claim", "exp=1"}, kSecret.c_str()).find("NAME=VALUE"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--claim", "novalue"}, kSecret.c_str()).find("NAME=VALUE"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--channels", "a,,b"}, kSecret.c_str()).find("--channels"), std::string::npos);
    EXPECT_NE(error_of({"--sub", "a", "--bogus", "x"}, kSecret.c_str()).find("unknown option"), std::string::npos);
    EXPECT_NE(error_of({"--sub"}, kSecret.c_str()).find("needs a value"), std::string::npos);
}

}  // namespace
}  // namespace livesync
