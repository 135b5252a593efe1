// The frames built for one stream entry, shared by every service thread
// (net/server_group.hpp): each thread fans the entry out to its own sessions, and a frame
// for an audience (stream/fanout.cpp: the subscription ids, views and encoding that decide
// its bytes) is encoded by the first thread that needs it and reused by the others.
// Thread-safe. Lives as long as the entry (StreamBatch::frames).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "sidecar/protocol/frame.hpp"

namespace livesync::stream {

class SharedFrames {
public:
    // The frame of transaction txn (its index in the entry) for audience: build()'s result
    // (nullopt: that audience sees none of the changes), built once.
    std::optional<protocol::Frame> get(size_t txn, const std::string &audience,
                                       const std::function<std::optional<protocol::Frame>()> &build) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto [it, added] = frames_.try_emplace(std::make_pair(txn, audience));
        if (added) it->second = build();
        else ++reused_;
        return it->second;
    }
    size_t reused() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return reused_;
    }

private:
    mutable std::mutex mutex_;
    std::map<std::pair<size_t, std::string>, std::optional<protocol::Frame>> frames_;
    size_t reused_ = 0;
};

}  // namespace livesync::stream
