// libFuzzer: a change batch from the Redis stream (msgpack) decodes or is refused; the same
// bytes as a snapshot page (rows back to back, common::PageRows) and as a CopyData
// message of a snapshot's binary COPY (snapshot::parse_copy_row) are read or refused.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/snapshot/snapshot_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view bytes(reinterpret_cast<const char *>(data), size);
    std::string error;
    livesync::common::decode_batch(bytes, &error);
    livesync::common::PageRows rows(bytes);
    std::vector<livesync::common::Column> row;
    std::string_view raw;
    while (rows.next(row, raw, &error)) {
    }
    std::string_view field;
    bool trailer = false;
    livesync::snapshot::parse_copy_row(bytes, size > 0 && data[0] == 'P', &field, &trailer, &error);
    return 0;
}
