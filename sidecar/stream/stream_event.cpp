#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

bool EventQueue::push(StreamEvent event) {
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || events_.size() < capacity_; });
    if (closed_) return false;
    events_.push_back(std::move(event));
    return true;
}

bool EventQueue::pop_some(size_t max, std::vector<StreamEvent> &out) {
    bool more;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        while (max-- > 0 && !events_.empty()) {
            out.push_back(std::move(events_.front()));
            events_.pop_front();
        }
        more = !events_.empty();
    }
    not_full_.notify_all();
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
