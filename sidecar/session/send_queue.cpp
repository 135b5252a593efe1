#include "sidecar/session/send_queue.hpp"

namespace livesync::session {

bool SendQueue::push(protocol::Frame frame) {
    size_t n = frame->size() - protocol::kFrameHeadroom;
    // One frame (one transaction, or part of a split one) is always accepted into an
    // empty queue, however big: the bound is on how far behind a client may fall.
    if (!frames_.empty() && bytes_ + n > max_bytes_) return false;
    bytes_ += n;
    frames_.push_back(std::move(frame));
    return true;
}

void SendQueue::pop() {
    bytes_ -= frames_.front()->size() - protocol::kFrameHeadroom;
    frames_.pop_front();
    front_written_ = 0;
}

void SendQueue::clear() {
    frames_.clear();
    bytes_ = 0;
    front_written_ = 0;
}

}  // namespace livesync::session
