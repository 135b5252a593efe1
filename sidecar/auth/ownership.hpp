// Client-id ownership: a client id is bound to the owner that first said hello with it
// (client_owner(): the user in its tenant, or an anonymous session's address), so
// another user -- also a user with the same sub in another tenant -- cannot take over a
// session, its registry entry or its kicks by presenting the same id. The check needs
// Redis, so it is asynchronous: claim() queues it and the answer comes back to the lws
// thread as a ClaimResult (security_store.hpp); tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sidecar/rules/identity.hpp"

namespace livesync::sidecar::auth {

// The owner a client id is bound to ("P client_owner:<id>"):
//   "user:<tenant>:<sub>"   a token's user; tenant "*" when the token has no tenant claim
//   "anonymous:<address>"   an anonymous session
// Tenant and sub are percent-encoded (every byte but A-Z a-z 0-9 - . _ ~ @ as %XX), so
// neither holds a ':' or a '*' of its own and no two (tenant, sub) pairs share an owner.
std::string client_owner(const rules::Identity &identity, const std::string &address);

// The owner that sidecars before the tenant was part of it wrote for the same user:
// "sub:<sub>" for "user:<tenant>:<sub>"; any other owner is returned as it is. A stored
// owner of that old form is taken over (and rewritten) by the first hello of that sub.
std::string legacy_client_owner(std::string_view owner);

class OwnershipClaims {
public:
    virtual ~OwnershipClaims() = default;
    // False when the check cannot even be queued (the caller answers not_ready).
    virtual bool claim(uint64_t serial, std::string client_id, std::string owner) = 0;
};

}  // namespace livesync::sidecar::auth
