// Who a session is, as its token (or --allow-anonymous) established it. Fan-out reads
// role, tenant and claims to decide what the session may see; the sweep reads
// close_at to end a session whose token expired without a refresh.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/filter_tree.hpp"

namespace livesync::rules {

struct Identity {
    bool anonymous = false;
    std::string subject;                // "sub"; empty for anonymous sessions
    std::string role;                   // the role claim; empty: no rule can match (deny)
    std::optional<std::string> tenant;  // the tenant claim as text; absent: tenant tables deny
    common::Claims claims;              // every claim, for rule filters
    int64_t expires_at = 0;             // "exp" (unix seconds); 0: never (anonymous)
    int64_t close_at = 0;               // expires_at + leeway: when the session is closed 4401
};

}  // namespace livesync::rules
