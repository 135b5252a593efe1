// protocol/: the client protocol livesync.v1.json at the edge. Client text frames are
// parsed here into typed structs, and anything malformed is rejected here with an error
// code and message; server frames are encoded here. Nothing inward sees raw JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace livesync::protocol {

struct Hello {
    std::optional<std::string> client_id;
    std::optional<uint64_t> last_lsn;
};

struct Subscribe {
    std::string id;
    std::string table;  // always "schema.table"
};

struct Unsubscribe {
    std::string id;
};

struct Ping {
    std::optional<std::string> ref;  // echoed in the pong, raw JSON text of the value
};

// A rejected frame: code is one of bad_json, bad_request, unknown_type; id is the
// frame's "id" when it had a usable one, so the client can match the error.
struct FrameError {
    std::string code;
    std::string message;
    std::optional<std::string> id;
};

using ClientFrame = std::variant<Hello, Subscribe, Unsubscribe, Ping, FrameError>;

inline constexpr size_t kMaxIdLength = 128;
inline constexpr size_t kMaxTableLength = 2 * 64 + 1;  // two Postgres identifiers and a dot

ClientFrame parse_client_frame(std::string_view text);

// "items" → "public.items"; "s.t" unchanged. Empty parts are invalid (nullopt).
std::optional<std::string> qualify_table(std::string_view table);

}  // namespace livesync::protocol
