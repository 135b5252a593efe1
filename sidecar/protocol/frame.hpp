// An outgoing WebSocket frame: the payload after kFrameHeadroom bytes of headroom that
// lws_write() fills with the frame header (net/server.cpp checks that LWS_PRE fits).
// Frames are immutable once built and shared by every session that sends the same bytes
// (fan-out builds each distinct frame once, for every service thread). A frame carries
// what the server needs to know about it besides its bytes: the error code of an error
// frame (counted when it is written, livesync_errors_total).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace livesync::protocol {

inline constexpr size_t kFrameHeadroom = 16;

struct FrameBytes : std::string {
    using std::string::string;
    std::string error_code;  // an error frame's code; empty for every other frame
};

using Frame = std::shared_ptr<const FrameBytes>;

// The buffer starts with kFrameHeadroom zero bytes, then payload.
inline Frame make_frame(std::string_view payload, std::string_view error_code = {}) {
    auto buf = std::make_shared<FrameBytes>(kFrameHeadroom, '\0');
    buf->append(payload.data(), payload.size());
    buf->error_code = std::string(error_code);
    return buf;
}

// A frame from bytes that already start with kFrameHeadroom bytes of headroom.
inline Frame adopt_frame(std::string &&with_headroom) {
    auto buf = std::make_shared<FrameBytes>();
    static_cast<std::string &>(*buf) = std::move(with_headroom);
    return buf;
}

inline std::string_view frame_payload(const Frame &f) { return std::string_view(*f).substr(kFrameHeadroom); }

}  // namespace livesync::protocol
