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
std::string encode_subscribed_channel(std::string_view id, std::string_view channel, uint64_t lsn);
// Ended by the server: the access it was granted under is gone. reason is the error code
// a subscribe would get now (unknown_table, forbidden).
std::string encode_unsubscribed(std::string_view id, std::string_view reason, std::string_view message);
// {"type":"caught_up","lsn":..}: a resume replayed everything through lsn; live from here.
std::string encode_caught_up(uint64_t lsn);
// {"type":"resync_required","lsn":..}: the stream no longer holds what the client missed;
// it is live from lsn and must reload its state as of then.
std::string encode_resync_required(uint64_t lsn);
// {"type":"snapshot_end","id":..,"lsn":..}: every snapshot row of subscription id was
// sent; lsn: the snapshot saw no transaction committed above it.
std::string encode_snapshot_end(std::string_view id, uint64_t lsn);
// {"type":"snapshot_waiting","id":..,"ahead":n}: the snapshot waits for a free query
// slot (admission control); n snapshot queries are queued before it.
std::string encode_snapshot_waiting(std::string_view id, uint64_t ahead);
std::string encode_pong(const std::optional<std::string> &ref_json);
std::string encode_error(std::string_view code, std::string_view message,
                         const std::optional<std::string> &id);

// {"type":"authenticated","expires_at":<unix seconds>} after a token refresh.
std::string encode_authenticated(int64_t expires_at);

}  // namespace livesync::protocol
