// The one validator of client frames: a decoded document (from JSON text, or from a
// msgpack map turned into the same DOM) → a typed ClientFrame or a FrameError.
// Internal to protocol/; nothing outside it sees the DOM.
#pragma once

#include <rapidjson/document.h>

#include "sidecar/protocol/client_frame.hpp"

namespace livesync::protocol {

ClientFrame parse_client_document(const rapidjson::Value &doc);

}  // namespace livesync::protocol
