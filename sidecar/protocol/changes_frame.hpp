// A `changes` frame (docs/protocol.md), both encodings: the head (lsn, xid, commit_time,
// part/final of a split transaction), then one entry per distinct way a change is shown,
// each tagged with the subscription ids that see it that way. Fan-out (stream/fanout.cpp)
// decides which entries a frame holds and for which ids; the bytes are written here only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/protocol/encoding.hpp"
#include "sidecar/protocol/frame.hpp"

namespace livesync::protocol {

// A change's fields without the enclosing object, to be shared by every entry that shows
// the change the same way: JSON text after the '{', or one byte holding the msgpack field
// count followed by the fields.
std::string encode_change_body(const common::Change &change, Encoding encoding);

class ChangesFrame {
public:
    // Writes the head of txn's frame.
    ChangesFrame(const common::Transaction &txn, Encoding encoding);

    // One entry: {"sub":[ids...], <body's fields>}; body from encode_change_body (same encoding).
    void add_entry(const std::vector<const std::string *> &ids, const std::string &body);
    uint32_t entries() const { return entries_; }

    // Closes the changes array; the frame is then sent as it is (an empty part of a split
    // transaction too: docs/protocol.md). The writer is spent afterwards.
    Frame finish();

private:
    Encoding encoding_;
    std::string bytes_;
    size_t changes_count_at_ = 0;
    uint32_t entries_ = 0;
};

}  // namespace livesync::protocol
