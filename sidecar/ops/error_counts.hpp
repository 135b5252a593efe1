// Error frames sent to clients, by error code (livesync_errors_total{code=..}). Codes
// come from a fixed set in protocol/, but the map is still bounded: past kMaxCodes
// distinct codes the rest count as "other".
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace livesync::ops {

class ErrorCounts {
public:
    static constexpr size_t kMaxCodes = 64;

    void count(std::string_view code) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = counts_.find(code);
        if (it == counts_.end())
            it = counts_.emplace(counts_.size() < kMaxCodes ? std::string(code) : std::string("other"), 0).first;
        ++it->second;
    }

    std::map<std::string, uint64_t, std::less<>> snapshot() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return counts_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, uint64_t, std::less<>> counts_;
};

}  // namespace livesync::ops
