// The "snapshot_rows" frame, in either encoding: {"type":"snapshot_rows","id":..,
// "rows":[{column: value, ...}, ...]}, each row's values typed exactly as in a
// "changes" frame (msgpack: the same ext codes, bin, timestamps).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/protocol/frame.hpp"
#include "sidecar/protocol/encoding.hpp"

namespace livesync::protocol {

// The rows part of a frame, encoded once and shared by every subscription with the same
// view and encoding; frames for each subscription id are built around it.
struct SnapshotRowsBody {
    Encoding encoding = Encoding::Json;
    std::string bytes;  // JSON: row objects joined by ','; msgpack: the row maps
    uint32_t rows = 0;
    void add(const std::vector<common::Column> &row);
    // msgpack only: a row map as Postgres packed it (a row shown whole).
    void add_raw(std::string_view row_msgpack) {
        ++rows;
        bytes.append(row_msgpack);
    }
};

protocol::Frame encode_snapshot_rows(std::string_view id, const SnapshotRowsBody &body);

}  // namespace livesync::protocol
