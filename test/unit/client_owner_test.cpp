// The owner a client id is bound to: the user within its tenant, encoded so that no two
// (tenant, sub) pairs share an owner; and the pre-tenant form it replaces.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include "sidecar/auth/ownership.hpp"

namespace livesync {
namespace {

using sidecar::auth::client_owner;
using rules::Identity;
using sidecar::auth::legacy_client_owner;

Identity user(const std::string &sub, std::optional<std::string> tenant) {
    Identity id;
    id.subject = sub;
    id.tenant = std::move(tenant);
    return id;
}

TEST(ClientOwner, IsTheUserWithinItsTenant) {
    EXPECT_EQ(client_owner(user("alice", "acme"), "1.2.3.4"), "user:acme:alice");
    EXPECT_EQ(client_owner(user("alice", std::nullopt), "1.2.3.4"), "user:*:alice");
    EXPECT_NE(client_owner(user("alice", "acme"), "1.2.3.4"), client_owner(user("alice", "globex"), "1.2.3.4"));
    Identity anonymous;
    anonymous.anonymous = true;
    EXPECT_EQ(client_owner(anonymous, "1.2.3.4"), "anonymous:1.2.3.4");
}

TEST(ClientOwner, ColonsAndStarsInTenantOrSubCannotCollide) {
    // Without encoding, ("a:b", "c") and ("a", "b:c") would both be "user:a:b:c", and a
    // tenant "*" would be a token without a tenant.
    std::set<std::string> owners;
    for (auto [sub, tenant] : std::vector<std::pair<std::string, std::optional<std::string>>>{
             {"c", "a:b"}, {"b:c", "a"}, {"a:b:c", std::nullopt}, {"x", "*"}, {"x", std::nullopt}, {"x", ""},
             {"x", "%2A"}, {"%", "t"}, {"%25", "t"}, {"", "t"}, {"x:", "t"}}) {
        std::string owner = client_owner(user(sub, tenant), "1.2.3.4");
        EXPECT_TRUE(owners.insert(owner).second) << owner;
        EXPECT_EQ(std::count(owner.begin(), owner.end(), ':'), 2) << owner;
    }
    EXPECT_EQ(client_owner(user("b:c", "a"), ""), "user:a:b%3Ac");
    EXPECT_EQ(client_owner(user("x", "*"), ""), "user:%2A:x");
    EXPECT_EQ(client_owner(user("é", "t t"), ""), "user:t%20t:%C3%A9");
}

TEST(ClientOwner, LegacyOwnerIsTheSubAloneAsOlderSidecarsWroteIt) {
    EXPECT_EQ(legacy_client_owner(client_owner(user("alice", "acme"), "")), "sub:alice");
    EXPECT_EQ(legacy_client_owner(client_owner(user("a:b%c", std::nullopt), "")), "sub:a:b%c");
    EXPECT_EQ(legacy_client_owner(client_owner(user("é", "t:t"), "")), "sub:é");
    EXPECT_EQ(legacy_client_owner("anonymous:1.2.3.4"), "anonymous:1.2.3.4");
    EXPECT_EQ(legacy_client_owner("user:acme:bad%4"), "user:acme:bad%4");  // not client_owner()'s: as it is
}

}  // namespace
}  // namespace livesync
