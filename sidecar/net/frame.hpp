// An outgoing WebSocket frame: the payload after LWS_PRE bytes of headroom that
// lws_write() fills with the frame header. Frames are immutable once built and shared
// by every session that sends the same bytes (fan-out builds each distinct frame once).
#pragma once

#include <libwebsockets.h>

#include <memory>
#include <string>
#include <string_view>

namespace livesync::net {

inline constexpr size_t kFrameHeadroom = LWS_PRE;

using Frame = std::shared_ptr<const std::string>;

// The buffer starts with kFrameHeadroom zero bytes, then payload.
inline Frame make_frame(std::string_view payload) {
    auto buf = std::make_shared<std::string>(kFrameHeadroom, '\0');
    buf->append(payload.data(), payload.size());
    return buf;
}

inline std::string_view frame_payload(const Frame &f) {
    return std::string_view(*f).substr(kFrameHeadroom);
}

}  // namespace livesync::net
