// The replicator's batched presence check (POST /v1/clients/presence): a JSON array of
// client ids in, {"gone":[...]} out — the ids this process does not hold, so the sweep
// can prune their registry entries (the seed's 410 Gone, one request per 1000 clients).
// Pure: body text and the session table in, an HttpResponse out.
//
// Who is connected is not public: these endpoints and GET /v1/clients/{id} answer only
// a request with "Authorization: Bearer <presence token>", the token this sidecar
// publishes in its heartbeat key in Redis (where the sweep reads the sidecar's url, and
// where the registry already names every client). Anyone else gets 401 for every id.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/http/http_router.hpp"
#include "sidecar/session/session_table.hpp"

namespace livesync::http {

inline constexpr std::string_view kPresencePath = "/v1/clients/presence";
// Bounds what one request may make the service thread parse and allocate; the
// replicator sends at most 1000 ids per request.
inline constexpr size_t kMaxPresenceBodyBytes = 1u << 20;
inline constexpr size_t kMaxPresenceIds = 10000;
// Presence bodies being received at once (each up to kMaxPresenceBodyBytes); more get
// 503. The replicator sends one request at a time.
inline constexpr size_t kMaxPresenceInFlight = 16;

// True when authorization is "Bearer <token>" (constant time; never for an empty token).
bool presence_authorized(const std::string &token, std::string_view authorization);
// 401, the same for every id and path.
HttpResponse presence_unauthorized();

// The ids of a presence request, or nullopt with *error (a JSON error response, 400).
std::optional<std::vector<std::string>> parse_presence_request(std::string_view body, HttpResponse *error);

// The whole answer: 200 {"gone":[...]} (ids in request order, duplicates once), or 400.
HttpResponse answer_presence(std::string_view body, const session::SessionTable &sessions);

// 413 for a body over kMaxPresenceBodyBytes.
HttpResponse presence_body_too_large();

}  // namespace livesync::http
