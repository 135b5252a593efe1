// session/: one client session — its state, its subscriptions and its bounded send
// queue. Sessions live on the lws service thread only; nothing here locks.
#pragma once

#include <cstddef>
#include <deque>

#include "sidecar/protocol/frame.hpp"

namespace livesync::session {

inline constexpr size_t kDefaultSendQueueBytes = 8u << 20;

// Frames waiting for LWS_CALLBACK_SERVER_WRITEABLE, bounded by payload bytes. A session
// whose client reads slower than changes arrive must not grow without bound: push()
// refuses a frame that would pass the bound and the caller closes the session.
class SendQueue {
public:
    explicit SendQueue(size_t max_bytes = kDefaultSendQueueBytes) : max_bytes_(max_bytes) {}

    // False (and nothing queued) when the frame would exceed the bound; a frame into an
    // empty queue always fits.
    bool push(protocol::Frame frame);
    const protocol::Frame &front() const { return frames_.front(); }
    // Payload bytes of the front frame already written (a big frame goes out as
    // WebSocket fragments, one per writeable callback, so lws never copies more than a
    // fragment of it).
    size_t front_written() const { return front_written_; }
    void advance_front(size_t n) { front_written_ += n; }
    void pop();
    void clear();
    bool empty() const { return frames_.empty(); }
    size_t size() const { return frames_.size(); }
    size_t bytes() const { return bytes_; }

private:
    std::deque<protocol::Frame> frames_;
    size_t bytes_ = 0;
    size_t front_written_ = 0;
    size_t max_bytes_;
};

}  // namespace livesync::session
