// protocol/: the client protocol (livesync.v1.json and livesync.v1.msgpack) at the edge.
// Client messages are parsed here into typed structs, and anything malformed is rejected
// here with an error code and message; server frames are encoded here. Nothing inward
// sees raw JSON or msgpack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/filter_tree.hpp"
#include "sidecar/protocol/encoding.hpp"

namespace livesync::protocol {

struct Subscribe {
    std::string id;
    std::string table;  // always "schema.table"; empty for a channel subscription
    // A livesync.notify channel instead of a table (exactly one of the two).
    std::optional<std::string> channel;
    // Optional narrowing (auth/access.hpp checks them against the role's rule): a
    // filter tree (common/filter_tree.hpp, without claims) and a column list.
    std::optional<common::FilterNode> filter;
    std::optional<std::vector<std::string>> columns;
    // "snapshot": true: first the rows the subscription may see now, then the
    // transactions they do not contain (snapshot/, docs/protocol.md). Tables only.
    bool snapshot = false;
};

struct Hello {
    std::optional<std::string> client_id;
    std::optional<uint64_t> last_lsn;
    // Subscriptions made with the hello, so a resume replays for them (live after
    // last_lsn); at most kMaxHelloSubscriptions.
    std::vector<Subscribe> subscriptions;
    // The token, for clients that cannot set an Authorization header (browsers).
    std::optional<std::string> token;
};

// A fresh token for the live session (same "sub"), before the current one expires.
struct Auth {
    std::string token;
};

struct Unsubscribe {
    std::string id;
};

struct Ping {
    std::optional<std::string> ref;  // echoed in the pong, raw JSON text of the value
};

// A rejected frame: code is one of bad_json, bad_msgpack, bad_request, unknown_type; id is the
// frame's "id" when it had a usable one, so the client can match the error.
struct FrameError {
    std::string code;
    std::string message;
    std::optional<std::string> id;
};

using ClientFrame = std::variant<Hello, Subscribe, Unsubscribe, Ping, Auth, FrameError>;

inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxSubscriptionColumns = 1600;  // Postgres' column limit
inline constexpr size_t kMaxHelloSubscriptions = 256;
inline constexpr size_t kMaxTableLength = 2 * 64 + 1;  // two Postgres identifiers and a dot
inline constexpr size_t kMaxChannelLength = 200;

// A notify channel's key among a session's subscription keys, which are otherwise
// "schema.table": a leading NUL, which no Postgres identifier can contain.
inline std::string channel_key(std::string_view channel) {
    std::string key(1, '\0');
    key += channel;
    return key;
}
inline bool is_channel_key(std::string_view key) { return !key.empty() && key[0] == '\0'; }
// "schema.table", or "channel:<name>" for a channel key (logs, the registry).
inline std::string display_key(std::string_view key) {
    return is_channel_key(key) ? "channel:" + std::string(key.substr(1)) : std::string(key);
}

// One client message of livesync.v1.json (a JSON text).
ClientFrame parse_client_frame(std::string_view text);
// One client message of livesync.v1.msgpack (a msgpack map); malformed msgpack is a
// FrameError with code bad_msgpack. Both decoders hand the same validator the same
// document, so a frame means the same in either encoding.
ClientFrame parse_client_msgpack(std::string_view bytes);
ClientFrame parse_client_message(Encoding encoding, std::string_view bytes);

// "items" → "public.items"; "s.t" unchanged. Empty parts are invalid (nullopt).
std::optional<std::string> qualify_table(std::string_view table);

}  // namespace livesync::protocol
