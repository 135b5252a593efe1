// libFuzzer: client frames, both encodings, must parse or fail with an error code —
// never crash, hang or read out of bounds (guarantee 5).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sidecar/protocol/client_frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char *>(data), size);
    livesync::protocol::parse_client_frame(bytes);
    livesync::protocol::parse_client_msgpack(bytes);
    return 0;
}
