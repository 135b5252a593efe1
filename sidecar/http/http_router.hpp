// net/: the lws context, the one HTTP router for every path, and the WebSocket
// plumbing (fragment assembly, size and opcode limits, writes only from
// LWS_CALLBACK_SERVER_WRITEABLE). The router itself is pure: request in, response out.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "sidecar/session/session_table.hpp"

namespace livesync::http {

inline constexpr std::string_view kSyncPath = "/v1/sync";
inline constexpr std::string_view kSubprotocol = "livesync.v1.json";

struct HttpResponse {
    unsigned status = 200;
    std::string body;  // JSON unless content_type says otherwise
    std::string content_type = "application/json";
};

// {"error":code,"message":message} with status.
HttpResponse http_error(unsigned status, std::string_view code, std::string_view message);

// The answers that need state beyond the session table (/readyz, /metrics).
struct OpsEndpoints {
    std::function<HttpResponse()> readiness;
    std::function<HttpResponse()> metrics;
};

// Routes a plain HTTP request (WebSocket upgrades at kSyncPath never get here; POST
// /v1/clients/presence is answered from its body, see presence.hpp). Without ops,
// /readyz and /metrics are 404. GET /v1/clients/{id} answers only when presence_allowed
// (the request carried the presence token, presence.hpp); otherwise 401 for any id.
HttpResponse route_http(std::string_view method, std::string_view path, const session::SessionTable &sessions,
                        const std::string &sidecar_id, const OpsEndpoints &ops = {}, bool presence_allowed = false);

}  // namespace livesync::http
