// The two encodings of client protocol v1, chosen per connection by the WebSocket
// subprotocol: JSON objects in text messages, or the same messages as msgpack maps in
// binary messages (docs/protocol.md, "livesync.v1.msgpack").
#pragma once

#include <string_view>

namespace livesync::protocol {

enum class Encoding : char { Json = 'j', Msgpack = 'm' };

inline constexpr const char *kJsonSubprotocol = "livesync.v1.json";
inline constexpr const char *kMsgpackSubprotocol = "livesync.v1.msgpack";

inline Encoding encoding_of_subprotocol(std::string_view name) {
    return name == kMsgpackSubprotocol ? Encoding::Msgpack : Encoding::Json;
}

}  // namespace livesync::protocol
