// net/: the lws context, the one HTTP router for every path, and the WebSocket
// plumbing (fragment assembly, size and opcode limits, writes only from
// LWS_CALLBACK_SERVER_WRITEABLE). The router itself is pure: request in, response out.
#pragma once

#include <string>
#include <string_view>

#include "sidecar/session/session_table.hpp"

namespace livesync::net {

inline constexpr std::string_view kSyncPath = "/v1/sync";
inline constexpr std::string_view kSubprotocol = "livesync.v1.json";

struct HttpResponse {
    unsigned status = 200;
    std::string body;  // JSON
};

// Routes a plain HTTP request (WebSocket upgrades at kSyncPath never get here).
HttpResponse route_http(std::string_view method, std::string_view path, const session::SessionTable &sessions,
                        const std::string &sidecar_id);

}  // namespace livesync::net
