// The client ids held on this sidecar, across its service threads (net/server_group.hpp):
// which session (by serial) holds each id, so that a hello on one thread replaces an
// older session of the same id on another, and so that presence (/v1/clients/{id}) and
// the admin API see every thread's sessions. Thread-safe; the sessions themselves stay
// on their own service thread (SessionTable).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace livesync::session {

// A session's serial names its service thread in its low bits (SessionTable::open).
inline constexpr unsigned kShardBits = 6;
inline constexpr unsigned kMaxShards = 1u << kShardBits;  // 64 service threads at most
inline unsigned shard_of_serial(uint64_t serial) { return static_cast<unsigned>(serial & (kMaxShards - 1)); }

class ClientDirectory {
public:
    // Makes serial the holder of client_id; returns the serial that held it before (0: none).
    uint64_t bind(const std::string &client_id, uint64_t serial) {
        std::lock_guard<std::mutex> lock(mutex_);
        uint64_t &slot = holders_[client_id];
        uint64_t previous = slot == serial ? 0 : slot;
        slot = serial;
        return previous;
    }
    // Forgets client_id if serial still holds it.
    void release(const std::string &client_id, uint64_t serial) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = holders_.find(client_id);
        if (it != holders_.end() && it->second == serial) holders_.erase(it);
    }
    bool holds(const std::string &client_id, uint64_t serial) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = holders_.find(client_id);
        return it != holders_.end() && it->second == serial;
    }
    // The serial holding client_id, 0 when no session here holds it.
    uint64_t find(const std::string &client_id) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = holders_.find(client_id);
        return it == holders_.end() ? 0 : it->second;
    }
    // Open sessions on every service thread (greeted or not).
    void opened() { open_.fetch_add(1, std::memory_order_relaxed); }
    void closed() { open_.fetch_sub(1, std::memory_order_relaxed); }
    size_t open_sessions() const { return open_.load(std::memory_order_relaxed); }

private:
    mutable std::mutex mutex_;
    std::unordered_map<std::string, uint64_t> holders_;  // guarded by mutex_
    std::atomic<size_t> open_{0};
};

}  // namespace livesync::session
