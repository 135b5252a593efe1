#include "sidecar/auth/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace livesync::sidecar::auth {
namespace {

TEST(RateLimiter, AllowsTheBurstThenRefusesUntilRefilled) {
    RateLimiter limiter(RateLimit{2, 5}, 100);  // 2 per second, burst 5
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.allow("10.0.0.1", 1000)) << i;
    EXPECT_FALSE(limiter.allow("10.0.0.1", 1000));
    EXPECT_FALSE(limiter.allow("10.0.0.1", 1400));  // 0.8 tokens refilled
    EXPECT_TRUE(limiter.allow("10.0.0.1", 1500));   // 1.0
    EXPECT_FALSE(limiter.allow("10.0.0.1", 1500));
    EXPECT_TRUE(limiter.allow("10.0.0.1", 10000));  // long idle refills, capped at the burst
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(limiter.allow("10.0.0.1", 10000));
    EXPECT_FALSE(limiter.allow("10.0.0.1", 10000));
}

TEST(RateLimiter, KeysAreIndependent) {
    RateLimiter limiter(RateLimit{1, 1}, 100);
    EXPECT_TRUE(limiter.allow("alice", 0));
    EXPECT_FALSE(limiter.allow("alice", 0));
    EXPECT_TRUE(limiter.allow("bob", 0));
}

TEST(RateLimiter, ZeroRateDisablesTheLimit) {
    RateLimiter limiter(RateLimit{0, 0}, 1);
    for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.allow(std::to_string(i), 0));
    EXPECT_EQ(limiter.size(), 0u);
}

TEST(RateLimiter, TableStaysBoundedUnderAFloodOfKeys) {
    RateLimiter limiter(RateLimit{1, 3}, 64);
    for (int i = 0; i < 10000; ++i) limiter.allow("addr-" + std::to_string(i), i);
    EXPECT_LE(limiter.size(), 64u);
    // An address over its limit stays limited while other keys come and go below the bound.
    RateLimiter strict(RateLimit{0.001, 1}, 64);
    EXPECT_TRUE(strict.allow("attacker", 0));
    for (int i = 0; i < 40; ++i) strict.allow("other-" + std::to_string(i), 1);
    EXPECT_FALSE(strict.allow("attacker", 2));
}

TEST(RateLimiter, ClockGoingBackwardsDoesNotMintTokens) {
    TokenBucket bucket;
    RateLimit limit{1, 1};
    EXPECT_TRUE(bucket.take(limit, 5000));
    EXPECT_FALSE(bucket.take(limit, 1000));
    EXPECT_FALSE(bucket.take(limit, 5500));
    EXPECT_TRUE(bucket.take(limit, 6000));
}

}  // namespace
}  // namespace livesync::sidecar::auth
