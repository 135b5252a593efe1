// livesyncd's security flags: default deny (no key, no --allow-anonymous: no start),
// keys from flags, environment and files, and the claims configuration.
#include <gtest/gtest.h>

#include <cstdio>
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

const std::string kSecret(40, 's');

TEST(SecurityOptions, WithoutAKeyOrAllowAnonymousTheDaemonRefusesToStart) {
    auto p = parse({});
    ASSERT_TRUE(std::holds_alternative<OptionsError>(p));
    EXPECT_NE(std::get<OptionsError>(p).message.find("--allow-anonymous"), std::string::npos);
}

TEST(SecurityOptions, AllowAnonymousIsASwitch) {
    auto p = parse({"--allow-anonymous"});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    EXPECT_TRUE(std::get<DaemonOptions>(p).security.auth.allow_anonymous);
    EXPECT_TRUE(std::holds_alternative<OptionsError>(parse({"--allow-anonymous=yes"})));
}

TEST(SecurityOptions, SecretFromEnvironmentAndClaimsFromFlags) {
    auto p = parse({"--tenant-claim", "org", "--role-claim=kind", "--jwt-audience", "app", "--jwt-issuer", "me",
                    "--jwt-leeway", "0"},
                   {{"LIVESYNC_JWT_SECRET", kSecret}});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p)) << std::get<OptionsError>(p).message;
    const auto &a = std::get<DaemonOptions>(p).security.auth;
    EXPECT_EQ(a.keys.hs256_secret, kSecret);
    EXPECT_FALSE(a.allow_anonymous);
    EXPECT_EQ(a.tenant_claim, "org");
    EXPECT_EQ(a.role_claim, "kind");
    EXPECT_EQ(a.policy.audience, "app");
    EXPECT_EQ(a.policy.issuer, "me");
    EXPECT_EQ(a.policy.leeway_seconds, 0);
}

TEST(SecurityOptions, DefaultClaimsAreTenantAndRole) {
    auto p = parse({"--jwt-hs256-secret", kSecret});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    const auto &a = std::get<DaemonOptions>(p).security.auth;
    EXPECT_EQ(a.tenant_claim, "tenant");
    EXPECT_EQ(a.role_claim, "role");
}

TEST(SecurityOptions, BadSecurityValuesAreErrors) {
    for (const auto &args : std::vector<std::vector<std::string>>{
             {"--jwt-hs256-secret", "short"},
             {"--jwt-rs256-public-key", "/nonexistent/key.pem"},
             {"--jwt-hs256-secret", kSecret, "--jwt-leeway", "-1"},
             {"--jwt-hs256-secret", kSecret, "--jwt-leeway", "ten"},
             {"--jwt-hs256-secret", kSecret, "--tenant-claim", ""}}) {
        auto p = parse(args);
        ASSERT_TRUE(std::holds_alternative<OptionsError>(p)) << args[0] << " " << args[1];
    }
}

TEST(SecurityOptions, PublicKeyFilesAreReadAndCheckedForPem) {
    std::string path = ::testing::TempDir() + "livesync_es256.pem";
    {
        std::ofstream f(path);
        f << "not a key\n";
    }
    EXPECT_TRUE(std::holds_alternative<OptionsError>(parse({"--jwt-es256-public-key", path})));
    {
        std::ofstream f(path);
        f << "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n";
    }
    auto p = parse({"--jwt-es256-public-key", path});
    ASSERT_TRUE(std::holds_alternative<DaemonOptions>(p));
    EXPECT_NE(std::get<DaemonOptions>(p).security.auth.keys.es256_public_pem.find("BEGIN PUBLIC KEY"),
              std::string::npos);
    std::remove(path.c_str());
}

}  // namespace
}  // namespace livesync
