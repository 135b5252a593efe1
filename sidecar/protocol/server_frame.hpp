// Encoders of the server → client frames of livesync.v1.json other than "changes"
// (which stream/fanout builds once per audience).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace livesync::protocol {

std::string encode_welcome(std::string_view client_id, std::string_view sidecar_id, uint64_t lsn);
std::string encode_subscribed(std::string_view id, std::string_view table, uint64_t lsn);
std::string encode_unsubscribed(std::string_view id);
std::string encode_pong(const std::optional<std::string> &ref_json);
std::string encode_error(std::string_view code, std::string_view message,
                         const std::optional<std::string> &id);

}  // namespace livesync::protocol
