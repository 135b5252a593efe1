#include <gtest/gtest.h>

#include "sidecar/registry/client_record.hpp"

namespace livesync {
namespace {

TEST(RegistryRecord, ClientHashHasTheContractFields) {
    registry::Keys keys{"livesync:", "sc1"};
    registry::ClientRecord r{"c1", "127.0.0.1", 1000, 2000, {"public.items", "s.\"t\""}};
    EXPECT_EQ(registry::hset_client_command(keys, r),
              (std::vector<std::string>{"HSET", "livesync:client:c1", "sidecar", "sc1", "address", "127.0.0.1",
                                        "connected_at", "1000", "last_activity", "2000", "subscriptions",
                                        R"(["public.items","s.\"t\""])"}));
    EXPECT_EQ(keys.sidecar_clients(), "livesync:sidecar:sc1:clients");
    EXPECT_EQ(keys.sidecar(), "livesync:sidecar:sc1");
    EXPECT_EQ(keys.sidecars(), "livesync:sidecars");
}

TEST(RegistryRecord, HeartbeatJson) {
    EXPECT_EQ(registry::heartbeat_json("sc1", "127.0.0.1:8080", 5),
              R"({"id":"sc1","url":"http://127.0.0.1:8080","started_at":5})");
}

}  // namespace
}  // namespace livesync
