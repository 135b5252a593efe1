// Every key under the default prefix hashes to one Redis Cluster slot, so each script
// and MULTI/EXEC livesync sends touches one slot; a prefix without a tag is told apart.
#include <gtest/gtest.h>

#include "common/redis_keys.hpp"

using livesync::common::cluster_hash_tag;
using livesync::common::prefix_has_hash_tag;
using livesync::common::RedisKeys;

TEST(RedisKeys, EveryDefaultKeyHashesByTheLivesyncTag) {
    RedisKeys keys;
    // Client ids and addresses come from outside and may hold braces of their own.
    const std::string odd = "a{b}c";
    for (const std::string &k :
         {keys.changes(), keys.trimmed_lsn(), keys.tables(), keys.rules(), keys.control(), keys.audit(),
          keys.sidecars(), keys.sidecar(odd), keys.sidecar_clients(odd), keys.client(odd), keys.client_owner(odd),
          keys.client_holder(odd), keys.client_generation(), keys.ban("[::1]"), keys.bans(), keys.activity(),
          keys.activity(odd)})
        EXPECT_EQ(cluster_hash_tag(k), "livesync") << k;
    EXPECT_EQ(keys.changes(), "{livesync}:changes");
    EXPECT_EQ(keys.sidecar_clients("s1"), "{livesync}:sidecar:s1:clients");
    EXPECT_EQ(keys.client_prefix() + "c1", keys.client("c1"));
}

TEST(RedisKeys, HashTagFollowsRedisClusterRules) {
    EXPECT_EQ(cluster_hash_tag("plain"), "plain");
    EXPECT_EQ(cluster_hash_tag("{}x"), "{}x");          // empty tag: the whole key
    EXPECT_EQ(cluster_hash_tag("a{b"), "a{b");          // unclosed
    EXPECT_EQ(cluster_hash_tag("x{t1}{t2}"), "t1");     // the first tag only
    EXPECT_EQ(cluster_hash_tag("{{t}}"), "{t");         // up to the first } after the first {
}

TEST(RedisKeys, PrefixWithoutTagIsToldApart) {
    EXPECT_TRUE(prefix_has_hash_tag("{livesync}:"));
    EXPECT_TRUE(prefix_has_hash_tag("app:{tenant7}:"));
    EXPECT_FALSE(prefix_has_hash_tag("livesync:"));
    EXPECT_FALSE(prefix_has_hash_tag("{}:"));
    EXPECT_FALSE(prefix_has_hash_tag("{livesync:"));
    RedisKeys custom("app:{t}:");
    EXPECT_EQ(custom.rules(), "app:{t}:rules");
    EXPECT_EQ(cluster_hash_tag(custom.client("x")), "t");
}

// The key names are a wire contract with deployed Redis data and with other versions of
// the extension and livesyncd sharing it (common/redis_keys.hpp): this test fails on any
// rename, which must then come with a migration.
TEST(RedisKeys, NamesArePinnedBecauseDeployedDataUsesThem) {
    EXPECT_EQ(livesync::common::kDefaultKeyPrefix, "{livesync}:");
    RedisKeys keys;
    EXPECT_EQ(keys.prefix(), "{livesync}:");
    EXPECT_EQ(keys.changes(), "{livesync}:changes");
    EXPECT_EQ(keys.trimmed_lsn(), "{livesync}:trimmed_lsn");
    EXPECT_EQ(keys.tables(), "{livesync}:tables");
    EXPECT_EQ(keys.rules(), "{livesync}:rules");
    EXPECT_EQ(keys.config_history(), "{livesync}:config");
    EXPECT_EQ(keys.control(), "{livesync}:control");
    EXPECT_EQ(keys.audit(), "{livesync}:audit");
    EXPECT_EQ(keys.sidecars(), "{livesync}:sidecars");
    EXPECT_EQ(keys.sidecar("s1"), "{livesync}:sidecar:s1");
    EXPECT_EQ(keys.sidecar_clients("s1"), "{livesync}:sidecar:s1:clients");
    EXPECT_EQ(keys.client("c1"), "{livesync}:client:c1");
    EXPECT_EQ(keys.client_prefix(), "{livesync}:client:");
    EXPECT_EQ(keys.client_owner("c1"), "{livesync}:client_owner:c1");
    EXPECT_EQ(keys.client_holder("c1"), "{livesync}:client_holder:c1");
    EXPECT_EQ(keys.client_generation(), "{livesync}:client_generation");
    EXPECT_EQ(keys.ban("10.0.0.1"), "{livesync}:ban:10.0.0.1");
    EXPECT_EQ(keys.bans(), "{livesync}:bans");
    EXPECT_EQ(keys.activity(), "{livesync}:activity");
    EXPECT_EQ(keys.activity("sub:u1"), "{livesync}:activity:sub:u1");
    // A custom prefix is used as given, with nothing added or dropped.
    EXPECT_EQ(RedisKeys("app:").changes(), "app:changes");
}
