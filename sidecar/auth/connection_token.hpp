// The token a WebSocket upgrade carried: "Authorization: Bearer <token>", else the
// "token" query parameter of /v1/sync (browsers cannot set headers on a WebSocket).
#pragma once

#include <optional>
#include <string>

struct lws;

namespace livesync::sidecar::auth {

std::optional<std::string> connection_token(struct lws *wsi);

}  // namespace livesync::sidecar::auth
