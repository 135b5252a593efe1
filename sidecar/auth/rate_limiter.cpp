#include "rate_limiter.hpp"

#include <algorithm>
#include <vector>

namespace livesync::sidecar::auth {

bool TokenBucket::take(const RateLimit &limit, int64_t now_ms) {
    if (limit.per_second <= 0) return true;
    if (tokens_ < 0) {
        tokens_ = limit.burst;
    } else if (now_ms > last_ms_) {
        tokens_ = std::min(limit.burst, tokens_ + (now_ms - last_ms_) * limit.per_second / 1000.0);
    }
    last_ms_ = std::max(last_ms_, now_ms);
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
}

void RateLimiter::evict(int64_t now_ms) {
    // Drop buckets that have refilled completely: forgetting them changes nothing.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
        double refilled = it->second.tokens() + (now_ms - it->second.last_ms()) * limit_.per_second / 1000.0;
        it = refilled >= limit_.burst ? buckets_.erase(it) : std::next(it);
    }
    // Still full of active keys: drop the least recently used half.
    if (buckets_.size() >= max_keys_) {
        std::vector<std::pair<int64_t, std::string>> by_age;
        by_age.reserve(buckets_.size());
        for (const auto &[key, bucket] : buckets_) by_age.emplace_back(bucket.last_ms(), key);
        std::nth_element(by_age.begin(), by_age.begin() + by_age.size() / 2, by_age.end());
        for (size_t i = 0; i < by_age.size() / 2; ++i) buckets_.erase(by_age[i].second);
    }
}

bool RateLimiter::allow(std::string_view key, int64_t now_ms) {
    if (limit_.per_second <= 0) return true;
    auto it = buckets_.find(std::string(key));
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_keys_) evict(now_ms);
        it = buckets_.emplace(std::string(key), TokenBucket{}).first;
    }
    return it->second.take(limit_, now_ms);
}

}  // namespace livesync::sidecar::auth
