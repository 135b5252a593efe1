#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

namespace {
size_t event_bytes(const StreamEvent &event) {
    const auto *batch = std::get_if<StreamBatch>(&event);
    return batch ? batch->bytes : 0;
}
}  // namespace

bool EventQueue::push(StreamEvent event) {
    size_t n = event_bytes(event);
    std::unique_lock<std::mutex> lock(mutex_);
    not_full_.wait(lock, [&] {
        return closed_ || events_.empty() || (events_.size() < capacity_ && bytes_ + n <= max_bytes_);
    });
    if (closed_) return false;
    bytes_ += n;
    events_.push_back(std::move(event));
    return true;
}

bool EventQueue::pop_some(size_t max, std::vector<StreamEvent> &out, size_t max_bytes) {
    bool more;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t taken_bytes = 0;
        while (max-- > 0 && !events_.empty()) {
            size_t n = event_bytes(events_.front());
            if (taken_bytes > 0 && taken_bytes + n > max_bytes) break;
            taken_bytes += n;
            bytes_ -= n;
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
