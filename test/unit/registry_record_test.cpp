#include <gtest/gtest.h>

#include "sidecar/registry/client_record.hpp"

namespace livesync {
namespace {

TEST(RegistryRecord, ClientHashHasTheContractFieldsAndItsGeneration) {
    registry::Keys keys{"livesync:", "sc1"};
    registry::ClientRecord r{"c1", "127.0.0.1", 1000, 2000, {"public.items", "s.\"t\""}, 77};
    std::vector<std::string> cmd = registry::upsert_client_command(keys, r);
    ASSERT_EQ(cmd.size(), 15u);
    EXPECT_EQ(cmd[0], "EVAL");
    EXPECT_EQ(std::vector<std::string>(cmd.begin() + 2, cmd.end()),
              (std::vector<std::string>{"1", "livesync:client:c1", "77", "sidecar", "sc1", "address", "127.0.0.1",
                                        "connected_at", "1000", "last_activity", "2000", "subscriptions",
                                        R"(["public.items","s.\"t\""])"}));
    EXPECT_EQ(keys.sidecar_clients(), "livesync:sidecar:sc1:clients");
    EXPECT_EQ(keys.sidecar(), "livesync:sidecar:sc1");
    EXPECT_EQ(keys.sidecars(), "livesync:sidecars");
    EXPECT_EQ(keys.client_holder("c1"), "livesync:client_holder:c1");
}

TEST(RegistryRecord, ClientHashNamesUserTenantAndRoleWhenKnown) {
    registry::Keys keys{"livesync:", "sc1"};
    registry::ClientRecord r{"c1", "127.0.0.1", 1000, 2000, {}, 5};
    r.user = "alice";
    r.role = "member";
    std::vector<std::string> cmd = registry::upsert_client_command(keys, r);
    ASSERT_EQ(cmd.size(), 19u);
    EXPECT_EQ(std::vector<std::string>(cmd.end() - 4, cmd.end()),
              (std::vector<std::string>{"user", "alice", "role", "member"}));  // no tenant claim: no field
}

TEST(RegistryRecord, RemovalNamesThisSidecarAndTheSessionsGeneration) {
    registry::Keys keys{"livesync:", "sc1"};
    std::vector<std::string> cmd = registry::remove_client_command(keys, "c1", 77);
    ASSERT_EQ(cmd.size(), 9u);
    EXPECT_EQ(cmd[0], "EVAL");
    EXPECT_EQ(std::vector<std::string>(cmd.begin() + 2, cmd.end()),
              (std::vector<std::string>{"3", "livesync:client:c1", "livesync:sidecar:sc1:clients",
                                        "livesync:client_holder:c1", "c1", "sc1", "77"}));
}

TEST(RegistryRecord, HeartbeatJson) {
    EXPECT_EQ(registry::heartbeat_json("sc1", "http://127.0.0.1:8080", 5),
              R"({"id":"sc1","url":"http://127.0.0.1:8080","started_at":5})");
    EXPECT_EQ(registry::heartbeat_json("sc1", "https://sidecar-1.internal:8443", 5),
              R"({"id":"sc1","url":"https://sidecar-1.internal:8443","started_at":5})");
    EXPECT_EQ(registry::heartbeat_json("sc1", "http://127.0.0.1:8080", 5, "t0k\"en"),
              R"({"id":"sc1","url":"http://127.0.0.1:8080","started_at":5,"presence_token":"t0k\"en"})");
}

}  // namespace
}  // namespace livesync
