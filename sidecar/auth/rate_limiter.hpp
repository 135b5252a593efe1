// Token buckets keyed by address or user: connection attempts and messages each get a
// rate and a burst. Time is passed in, so the limiter is pure and testable; the table
// is bounded (idle, full buckets are dropped first) so a flood of distinct keys cannot
// grow it without limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace livesync::sidecar::auth {

struct RateLimit {
    double per_second = 0;  // refill rate; 0 disables the limit
    double burst = 0;       // bucket size
};

class TokenBucket {
public:
    // Takes one token if there is one; time in milliseconds on a monotonic clock.
    bool take(const RateLimit &limit, int64_t now_ms);
    double tokens() const { return tokens_; }
    int64_t last_ms() const { return last_ms_; }

private:
    double tokens_ = -1;  // -1: new bucket, starts full
    int64_t last_ms_ = 0;
};

class RateLimiter {
public:
    RateLimiter(RateLimit limit, size_t max_keys) : limit_(limit), max_keys_(max_keys) {}
    bool allow(std::string_view key, int64_t now_ms);
    size_t size() const { return buckets_.size(); }

private:
    void evict(int64_t now_ms);
    RateLimit limit_;
    size_t max_keys_;
    std::unordered_map<std::string, TokenBucket> buckets_;
};

}  // namespace livesync::sidecar::auth
