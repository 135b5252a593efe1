// livesync-cli --msgpack: server messages of livesync.v1.msgpack rendered as the JSON the
// livesync.v1.json encoding sends for them, so the CLI prints the same lines whichever
// encoding it speaks (and a test can compare the two).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace livesync::cli {

// nullopt and *error when bytes are not one msgpack value.
std::optional<std::string> msgpack_to_json(std::string_view bytes, std::string *error);

}  // namespace livesync::cli
