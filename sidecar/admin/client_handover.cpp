#include "sidecar/admin/client_handover.hpp"

namespace livesync::admin {

void RecentReplaces::note(const std::string &client_id, uint64_t generation, int64_t now_ms) {
    while (!order_.empty() && (order_.size() >= capacity_ || order_.front().at_ms + keep_ms_ < now_ms))
        forget_oldest();
    if (capacity_ == 0) return;
    uint64_t &newest = newest_[client_id];
    if (generation > newest) newest = generation;
    order_.push_back(Note{now_ms, client_id, generation});
}

uint64_t RecentReplaces::newest(const std::string &client_id, int64_t now_ms) {
    while (!order_.empty() && order_.front().at_ms + keep_ms_ < now_ms) forget_oldest();
    auto it = newest_.find(client_id);
    return it == newest_.end() ? 0 : it->second;
}

void RecentReplaces::forget_oldest() {
    const Note &n = order_.front();
    auto it = newest_.find(n.client_id);
    // The claim script writes an id's replaces in generation order, so a later note of
    // the same id carries a higher generation and keeps the entry.
    if (it != newest_.end() && it->second == n.generation) newest_.erase(it);
    order_.pop_front();
}

}  // namespace livesync::admin
