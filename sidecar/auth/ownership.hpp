// Client-id ownership: a client id is bound to the owner that first said hello with it
// (owner_key(): "sub:<sub>", or "anonymous:<address>"), so another user cannot take
// over a session, its registry entry or its kicks by presenting the same id. The check
// needs Redis, so it is asynchronous: claim() queues it and the answer comes back to
// the lws thread as a ClaimResult (security_store.hpp); tests use a fake.
#pragma once

#include <cstdint>
#include <string>

namespace livesync::sidecar::auth {

class OwnershipClaims {
public:
    virtual ~OwnershipClaims() = default;
    // False when the check cannot even be queued (the caller answers not_ready).
    virtual bool claim(uint64_t serial, std::string client_id, std::string owner) = 0;
};

}  // namespace livesync::sidecar::auth
