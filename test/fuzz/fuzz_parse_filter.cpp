// libFuzzer: a filter tree (JSON, from rules in Redis and from client subscriptions).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/filter_tree.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string error;
    livesync::common::parse_filter(std::string_view(reinterpret_cast<const char *>(data), size), &error);
    return 0;
}
