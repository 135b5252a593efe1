#include "sidecar/protocol/snapshot_frame.hpp"

#include "sidecar/protocol/msgpack_writer.hpp"

namespace livesync::protocol {

void SnapshotRowsBody::add(const std::vector<common::Column> &row) {
    ++rows;
    if (encoding == Encoding::Msgpack) {
        MsgpackOut w(bytes);
        w.map(static_cast<uint32_t>(row.size()));
        for (const common::Column &c : row) {
            w.str(c.name);
            w.value(c.value);
        }
        return;
    }
    if (rows > 1) bytes += ',';
    common::append_columns_json(bytes, row);
}

protocol::Frame encode_snapshot_rows(std::string_view id, const SnapshotRowsBody &body) {
    auto out = std::make_shared<FrameBytes>(protocol::kFrameHeadroom, '\0');
    out->reserve(protocol::kFrameHeadroom + body.bytes.size() + id.size() + 48);
    if (body.encoding == Encoding::Msgpack) {
        MsgpackOut w(*out);
        w.map(3);
        w.str("type");
        w.str("snapshot_rows");
        w.str("id");
        w.str(id);
        w.str("rows");
        w.array(body.rows);
        out->append(body.bytes);
        return out;
    }
    *out += "{\"type\":\"snapshot_rows\",\"id\":";
    common::append_json_string(*out, id);
    *out += ",\"rows\":[";
    *out += body.bytes;
    *out += "]}";
    return out;
}

}  // namespace livesync::protocol
