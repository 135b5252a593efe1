#include "sidecar/stream/stream_event.hpp"

#include <algorithm>

namespace livesync::stream {

namespace {
size_t event_bytes(const StreamEvent &event) {
    const auto *batch = std::get_if<StreamBatch>(&event);
    return batch ? batch->bytes : 0;
}
}  // namespace

bool EventQueue::push(StreamEvent event) {
    size_t n = event_bytes(event);
    if (auto *batch = std::get_if<StreamBatch>(&event); batch && cursors_.size() > 1)
        batch->frames = std::make_shared<SharedFrames>();
    auto shared = std::make_shared<const StreamEvent>(std::move(event));
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] {
        return closed_ || events_.empty() || (events_.size() < capacity_ && bytes_ + n <= max_bytes_);
    });
    if (closed_) return false;
    bytes_ += n;
    events_.push_back(Held{std::move(shared), n});
    return true;
}

bool EventQueue::pop_some(size_t max, std::vector<Shared> &out, size_t max_bytes, size_t consumer) {
    bool more;
    bool freed = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        uint64_t &cursor = cursors_.at(consumer);
        size_t taken_bytes = 0;
        while (max-- > 0 && cursor < base_ + events_.size()) {
            const Held &held = events_[cursor - base_];
            if (taken_bytes > 0 && taken_bytes + held.bytes > max_bytes) break;
            taken_bytes += held.bytes;
            out.push_back(held.event);
            ++cursor;
        }
        more = cursor < base_ + events_.size();
        uint64_t slowest = *std::min_element(cursors_.begin(), cursors_.end());
        while (base_ < slowest) {
            bytes_ -= events_.front().bytes;
            events_.pop_front();
            ++base_;
            freed = true;
        }
    }
    if (freed) not_full_.notify_all();
    return more;
}
void EventQueue::close() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
    }
    not_full_.notify_all();
}

}  // namespace livesync::stream
