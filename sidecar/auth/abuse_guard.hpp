// Abuse limits of one sidecar, on the lws thread: connection attempts per address and
// messages per user (per address for anonymous and not yet authenticated sessions),
// both token buckets (rate_limiter.hpp); repeated auth failures from one address, which
// ban it; and the cache of banned addresses that the connect path checks without
// waiting on Redis (SecurityStore keeps it current from "<prefix>bans"). Pure: time is
// passed in, nothing here blocks or locks.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sidecar/auth/rate_limiter.hpp"

namespace livesync::sidecar::auth {

struct AbuseConfig {
    RateLimit connections{20, 40};  // per address: WebSocket connections per second, burst
    RateLimit messages{50, 100};    // per user (or address): client messages per second, burst
    int ban_after = 20;             // auth failures within ban_window_seconds ban the address; 0: never
    int ban_window_seconds = 60;
    int ban_seconds = 600;
    size_t max_keys = 100000;  // tracked addresses / users per table (bounded memory)
};

// "PER_S:BURST" (e.g. "20:40"; "0" or "off": no limit). nullopt for anything else.
std::optional<RateLimit> parse_rate_limit(std::string_view text);

class AbuseGuard {
public:
    explicit AbuseGuard(AbuseConfig config);
    const AbuseConfig &config() const { return config_; }

    // True when address is banned now (now_ms: unix ms).
    bool banned(const std::string &address, int64_t now_ms) const;
    bool allow_connection(const std::string &address, int64_t now_ms);
    // key: rate_key() of the session.
    bool allow_message(const std::string &key, int64_t now_ms);
    // Records an auth failure; true when it is the one that bans the address (the caller
    // then calls ban() and persists it).
    bool auth_failed(const std::string &address, int64_t now_ms);

    void ban(const std::string &address, int64_t until_ms, int64_t now_ms);
    void unban(const std::string &address, int64_t now_ms);
    // The bans every sidecar shares (read from Redis) replace the cache; bans imposed or
    // lifted here in the last few seconds are kept as they are (a refresh read before
    // their write reached Redis must not undo them).
    void replace_bans(const std::map<std::string, int64_t> &until_ms_by_address, int64_t now_ms);
    // address → until (unix ms), bans still in force.
    std::vector<std::pair<std::string, int64_t>> bans(int64_t now_ms) const;

private:
    AbuseConfig config_;
    RateLimiter connections_;
    RateLimiter messages_;
    std::unordered_map<std::string, std::deque<int64_t>> failures_;  // address → recent failure times
    std::unordered_map<std::string, int64_t> bans_;                  // address → until (unix ms)
    std::unordered_map<std::string, int64_t> local_changes_;         // address → when banned/unbanned here
    // Every service thread calls in (net/server_group.hpp); each public method holds it.
    mutable std::recursive_mutex mutex_;
};

// Who a session is, as the activity report shows it: "sub:<sub>" for a user,
// "anonymous:<address>" for anonymous sessions, "address:<address>" before
// authentication. Rate limits and activity are counted per user *in its tenant*
// (client_owner(), ownership.hpp: the same sub in two tenants is two users) or,
// without a user, per "address:".
std::string owner_key(bool authenticated, bool anonymous, const std::string &subject, const std::string &address);

}  // namespace livesync::sidecar::auth
