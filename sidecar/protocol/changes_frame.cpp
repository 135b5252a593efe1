#include "sidecar/protocol/changes_frame.hpp"

#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"

namespace livesync::protocol {

std::string encode_change_body(const common::Change &change, Encoding encoding) {
    std::string out;
    if (encoding == Encoding::Msgpack) {
        out.push_back('\0');
        out[0] = static_cast<char>(append_change_fields_msgpack(out, change));
        return out;
    }
    common::append_change_json(out, change);
    out.erase(0, 1);
    return out;
}

ChangesFrame::ChangesFrame(const common::Transaction &txn, Encoding encoding)
    : encoding_(encoding), bytes_(kFrameHeadroom, '\0') {
    const bool split = txn.part != 0 || !txn.final;
    if (encoding_ == Encoding::Msgpack) {
        MsgpackOut w(bytes_);
        w.map(split ? 7 : 5);
        w.str("type");
        w.str("changes");
        w.str("lsn");
        w.str(common::format_lsn(txn.lsn));
        w.str("xid");
        w.uint64(txn.xid);
        w.str("commit_time");
        w.timestamp(txn.commit_sec, txn.commit_nsec);
        if (split) {
            w.str("part");
            w.uint64(txn.part);
            w.str("final");
            w.boolean(txn.final);
        }
        w.str("changes");
        changes_count_at_ = w.array32_placeholder();
        return;
    }
    bytes_ += "{\"type\":\"changes\",\"lsn\":\"";
    bytes_ += common::format_lsn(txn.lsn);
    bytes_ += "\",\"xid\":";
    bytes_ += std::to_string(txn.xid);
    bytes_ += ",\"commit_time\":";
    common::append_timestamp_json(bytes_, txn.commit_sec, txn.commit_nsec);
    if (split) {
        bytes_ += ",\"part\":";
        bytes_ += std::to_string(txn.part);
        bytes_ += txn.final ? ",\"final\":true" : ",\"final\":false";
    }
    bytes_ += ",\"changes\":[";
}

void ChangesFrame::add_entry(const std::vector<const std::string *> &ids, const std::string &body) {
    ++entries_;
    if (encoding_ == Encoding::Msgpack) {
        MsgpackOut w(bytes_);
        w.map(1u + static_cast<unsigned char>(body[0]));
        w.str("sub");
        w.array(static_cast<uint32_t>(ids.size()));
        for (const std::string *id : ids) w.str(*id);
        bytes_.append(body, 1, std::string::npos);
        return;
    }
    if (entries_ > 1) bytes_ += ',';
    bytes_ += "{\"sub\":[";
    for (size_t j = 0; j < ids.size(); ++j) {
        if (j) bytes_ += ',';
        common::append_json_string(bytes_, *ids[j]);
    }
    bytes_ += "],";
    bytes_ += body;
}

Frame ChangesFrame::finish() {
    if (encoding_ == Encoding::Msgpack) MsgpackOut(bytes_).patch_count(changes_count_at_, entries_);
    else bytes_ += "]}";
    return adopt_frame(std::move(bytes_));
}

}  // namespace livesync::protocol
