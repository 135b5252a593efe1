// livesyncd's security flags and environment (auth, rate limits, bans, admin API),
// parsed apart from the rest of the command line so daemon_options stays small.
// Flags win over environment variables, which win over defaults. Key files are read
// here, so a missing or unreadable key stops the daemon before it starts.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "sidecar/auth/abuse_guard.hpp"
#include "sidecar/auth/authenticator.hpp"

namespace livesync::sidecar::auth {

struct SecurityOptions {
    AuthConfig auth;
    AbuseConfig abuse;        // rate limits and bans
    std::string admin_token;  // Bearer token of /v1/admin/*; empty: the admin API answers 404
};

class SecurityFlags {
public:
    // True when flag is one of ours and needs a value; *target receives it.
    std::optional<std::string> *value_flag(const std::string &flag);
    // True when flag is one of our switches (no value); records it.
    bool switch_flag(const std::string &flag);
    // Applies environment and flags; false and *error on a bad value or unreadable file.
    bool resolve(const std::function<const char *(const char *)> &getenv, SecurityOptions &out,
                 std::string *error) const;

private:
    std::map<std::string, std::optional<std::string>> values_;
    bool allow_anonymous_ = false;
};

std::string security_usage();

}  // namespace livesync::sidecar::auth
