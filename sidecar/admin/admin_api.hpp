// The admin HTTP API, as pure functions (the lws side is security_hub.cpp): bearer
// token check in constant time, request parsing into typed requests, and the JSON of
// the session list. No token configured: every /v1/admin/ path answers 404, so the API
// does not exist unless an operator turns it on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>
#include <variant>

#include "sidecar/http/http_router.hpp"
#include "sidecar/session/session_table.hpp"

namespace livesync::admin {

inline constexpr std::string_view kAdminPrefix = "/v1/admin/";
// Close code of a session ended by an admin kick or livesync.kick().
inline constexpr uint16_t kCloseKicked = 4410;
inline constexpr const char *kKickedReason = "kicked by an administrator";
inline constexpr const char *kBannedReason = "forbidden: address banned";
inline constexpr size_t kMaxAdminBodyBytes = 64 * 1024;
inline constexpr int64_t kMaxBanSeconds = 30LL * 86400;

struct ListSessions {};
struct Kick {
    std::string client_id;  // exactly one of client_id, user
    std::string user;
};
struct Ban {
    std::string address;
    int64_t seconds = 0;
};
struct Unban {
    std::string address;
};
struct ListBans {};
struct Activity {
    int64_t since = 0;  // unix seconds
};
using AdminRequest = std::variant<ListSessions, Kick, Ban, Unban, ListBans, Activity, http::HttpResponse>;

// method: "GET", "POST", "DELETE" (anything else: 405). since: the raw value of the
// `since` query argument, if any. A http::HttpResponse is an error answer.
AdminRequest parse_admin(std::string_view method, std::string_view path, const std::string *since,
                         std::string_view body);

// An address as livesyncd sees it (lws_get_peer_simple): 1–64 characters of hex digits,
// digits, '.', ':' and '%'-scope letters; nothing that could be a Redis key trick.
bool valid_address(std::string_view address);

// {"sessions":[{"client_id","user","tenant","role","address","connected_at","subscriptions":[{"id","table"}]}]}
std::string render_sessions(session::SessionTable &sessions, const std::string &sidecar_id);
// The same from the parts every service thread rendered (render_session_items: the
// comma-separated session objects of one thread's table; empty parts are skipped).
std::string render_sessions(const std::vector<std::string> &items, const std::string &sidecar_id);
std::string render_session_items(session::SessionTable &sessions);

}  // namespace livesync::admin
