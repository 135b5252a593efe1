// libFuzzer: a change batch from the Redis stream (msgpack) decodes or is refused.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/change_batch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string error;
    livesync::common::decode_batch(std::string_view(reinterpret_cast<const char *>(data), size), &error);
    return 0;
}
