#include "sidecar/snapshot/snapshot_pacer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace livesync::snapshot {

namespace {
constexpr int64_t kNone = std::numeric_limits<int64_t>::max();
}

int64_t SnapshotPacer::base_us() const {
    if (bucket_ < 0) return kNone;
    return *std::min_element(base_.begin(), base_.end());
}

void SnapshotPacer::measure(int64_t now_us) {
    if (step_start_us_ == 0) step_start_us_ = now_us;
    int64_t elapsed = now_us - step_start_us_;
    if (elapsed < kStepUs) return;
    measured_rate_ = static_cast<double>(step_bytes_) * 1e6 / static_cast<double>(elapsed);
    step_start_us_ = now_us;
    step_bytes_ = 0;
}

void SnapshotPacer::advance(int64_t now_us) {
    if (!limited_) return;
    if (now_us - congested_us_ >= kReleaseUs) {
        limited_ = false;
        tokens_ = 0;
        return;
    }
    while (now_us - grown_us_ >= kStepUs) {
        grown_us_ += kStepUs;
        rate_ += kMinBytesPerSecond;
    }
    tokens_ += rate_ * static_cast<double>(now_us - refilled_us_) / 1e6;
    // At most one step's worth saved up: a limited rate stays a rate.
    tokens_ = std::min(tokens_, rate_ * static_cast<double>(kStepUs) / 1e6);
    refilled_us_ = now_us;
}

bool SnapshotPacer::on_live(int64_t delay_us, int64_t now_us) {
    if (target_us_ <= 0) return false;
    advance(now_us);
    int64_t bucket = now_us / (kBaseWindowUs / static_cast<int64_t>(kBuckets));
    if (bucket_ < 0 || bucket - bucket_ >= static_cast<int64_t>(kBuckets)) {
        base_.fill(kNone);
        bucket_ = bucket;
    }
    while (bucket_ < bucket) base_[static_cast<size_t>(++bucket_) % kBuckets] = kNone;
    int64_t &slot = base_[static_cast<size_t>(bucket_) % kBuckets];
    slot = std::min(slot, delay_us);
    if (delay_us - base_us() <= target_us_) return false;
    if (limited_ && now_us - congested_us_ < kStepUs) return false;  // the same episode
    measure(now_us);
    if (!limited_) {
        double recent = measured_rate_;
        int64_t partial = now_us - step_start_us_;
        if (recent <= 0 && step_bytes_ > 0 && partial > 0)
            recent = static_cast<double>(step_bytes_) * 1e6 / static_cast<double>(partial);
        // No snapshot bytes lately: the live path waits for something else.
        if (recent <= 0) return false;
        limited_ = true;
        rate_ = std::max(kMinBytesPerSecond, recent / 2);
        tokens_ = 0;
        refilled_us_ = now_us;
    } else {
        rate_ = std::max(kMinBytesPerSecond, rate_ / 2);
    }
    congested_us_ = now_us;
    grown_us_ = now_us;
    return true;
}

void SnapshotPacer::on_sent(size_t bytes, int64_t now_us) {
    measure(now_us);
    step_bytes_ += bytes;
    if (!limited_) return;
    advance(now_us);
    if (limited_) tokens_ -= static_cast<double>(bytes);
}

int64_t SnapshotPacer::wait_us(int64_t now_us) {
    advance(now_us);
    if (!limited_ || tokens_ >= 0) return 0;
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(-tokens_ / rate_ * 1e6)));
}

}  // namespace livesync::snapshot
