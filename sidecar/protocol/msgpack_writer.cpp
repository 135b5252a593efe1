#include "sidecar/protocol/msgpack_writer.hpp"

#include <rapidjson/document.h>

#include <cstring>

namespace livesync::protocol {

namespace {

int append_bytes(void *data, const char *buf, size_t len) {
    static_cast<std::string *>(data)->append(buf, len);
    return 0;
}

}  // namespace

MsgpackOut::MsgpackOut(std::string &out) : out_(out) { msgpack_packer_init(&pk_, &out_, append_bytes); }

void MsgpackOut::nil() { msgpack_pack_nil(&pk_); }
void MsgpackOut::boolean(bool b) { b ? msgpack_pack_true(&pk_) : msgpack_pack_false(&pk_); }
void MsgpackOut::int64(int64_t i) { msgpack_pack_int64(&pk_, i); }
void MsgpackOut::uint64(uint64_t u) { msgpack_pack_uint64(&pk_, u); }
void MsgpackOut::float64(double f) { msgpack_pack_double(&pk_, f); }
void MsgpackOut::float32(float f) { msgpack_pack_float(&pk_, f); }
void MsgpackOut::str(std::string_view s) {
    msgpack_pack_str(&pk_, s.size());
    msgpack_pack_str_body(&pk_, s.data(), s.size());
}
void MsgpackOut::bin(std::string_view b) {
    msgpack_pack_bin(&pk_, b.size());
    msgpack_pack_bin_body(&pk_, b.data(), b.size());
}
void MsgpackOut::ext(int8_t type, std::string_view body) {
    msgpack_pack_ext(&pk_, body.size(), type);
    msgpack_pack_ext_body(&pk_, body.data(), body.size());
}
void MsgpackOut::timestamp(int64_t sec, uint32_t nsec) {
    msgpack_timestamp ts{sec, nsec};
    msgpack_pack_timestamp(&pk_, &ts);
}
void MsgpackOut::array(uint32_t n) { msgpack_pack_array(&pk_, n); }
void MsgpackOut::map(uint32_t n) { msgpack_pack_map(&pk_, n); }

size_t MsgpackOut::array32_placeholder() {
    size_t at = out_.size();
    out_.append("\xdd\0\0\0\0", 5);
    return at;
}

void MsgpackOut::patch_count(size_t offset, uint32_t n) {
    for (int i = 0; i < 4; ++i) out_[offset + 1 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
}

void MsgpackOut::value(const common::Value &v) {
    using Kind = common::Value::Kind;
    switch (v.kind) {
        case Kind::Null: nil(); return;
        case Kind::Bool: boolean(v.b); return;
        case Kind::Int: int64(v.i); return;
        case Kind::UInt: uint64(v.u); return;
        case Kind::Float:
            if (v.f32) float32(static_cast<float>(v.f));
            else float64(v.f);
            return;
        case Kind::Text: str(v.s); return;
        case Kind::Bytes: bin(v.s); return;
        case Kind::Numeric: ext(common::kExtNumeric, v.s); return;
        case Kind::Json: ext(common::kExtJson, v.s); return;
        case Kind::Timestamp: timestamp(v.ts_sec, v.ts_nsec); return;
        case Kind::OtherText: ext(common::kExtText, v.s); return;
        case Kind::Date: ext(common::kExtDate, v.s); return;
        case Kind::Time: ext(common::kExtTime, v.s); return;
        case Kind::TimeTz: ext(common::kExtTimeTz, v.s); return;
        case Kind::LocalTimestamp: ext(common::kExtLocalTimestamp, v.s); return;
        case Kind::Interval: ext(common::kExtInterval, v.s); return;
        case Kind::Uuid: ext(common::kExtUuid, v.s); return;
        case Kind::Array:
            array(static_cast<uint32_t>(v.elements.size()));
            for (const common::Value &e : v.elements) value(e);
            return;
    }
    nil();
}

namespace {

void append_columns(MsgpackOut &w, const std::vector<common::Column> &cols) {
    w.map(static_cast<uint32_t>(cols.size()));
    for (const common::Column &c : cols) {
        w.str(c.name);
        w.value(c.value);
    }
}

}  // namespace

uint32_t append_change_fields_msgpack(std::string &out, const common::Change &c) {
    MsgpackOut w(out);
    w.str("op");
    w.str(common::op_name(c.op));
    if (c.op == common::Op::Truncate) {
        w.str("relations");
        w.array(static_cast<uint32_t>(c.relations.size()));
        for (const common::RelationName &r : c.relations) {
            w.map(2);
            w.str("schema");
            w.str(r.schema);
            w.str("table");
            w.str(r.table);
        }
        w.str("cascade");
        w.boolean(c.cascade);
        w.str("restart_identity");
        w.boolean(c.restart_identity);
        return 4;
    }
    if (c.op == common::Op::Message) {
        w.str("channel");
        w.str(c.channel);
        w.str("payload");
        w.ext(common::kExtJson, c.payload);
        return 3;
    }
    uint32_t fields = 3;
    w.str("schema");
    w.str(c.schema);
    w.str("table");
    w.str(c.table);
    if (c.op == common::Op::Schema) {
        w.str("columns");
        w.array(static_cast<uint32_t>(c.columns.size()));
        for (const common::ColumnType &col : c.columns) {
            w.map(2);
            w.str("name");
            w.str(col.name);
            w.str("type");
            w.str(col.type);
        }
        return 4;
    }
    if (c.op != common::Op::Delete) {
        w.str("new");
        append_columns(w, c.new_values);
        ++fields;
    }
    if (!c.old_values.empty()) {
        w.str("old");
        append_columns(w, c.old_values);
        ++fields;
    }
    if (!c.unchanged.empty()) {
        w.str("unchanged");
        w.array(static_cast<uint32_t>(c.unchanged.size()));
        for (const std::string &name : c.unchanged) w.str(name);
        ++fields;
    }
    return fields;
}

namespace {

void transcode(MsgpackOut &w, const rapidjson::Value &v) {
    switch (v.GetType()) {
        case rapidjson::kNullType: w.nil(); return;
        case rapidjson::kFalseType: w.boolean(false); return;
        case rapidjson::kTrueType: w.boolean(true); return;
        case rapidjson::kStringType: w.str(std::string_view(v.GetString(), v.GetStringLength())); return;
        case rapidjson::kNumberType:
            if (v.IsInt64()) w.int64(v.GetInt64());
            else if (v.IsUint64()) w.uint64(v.GetUint64());
            else w.float64(v.GetDouble());
            return;
        case rapidjson::kArrayType:
            w.array(v.Size());
            for (const auto &e : v.GetArray()) transcode(w, e);
            return;
        case rapidjson::kObjectType:
            w.map(v.MemberCount());
            for (const auto &m : v.GetObject()) {
                w.str(std::string_view(m.name.GetString(), m.name.GetStringLength()));
                transcode(w, m.value);
            }
            return;
    }
}

}  // namespace

std::optional<std::string> json_to_msgpack(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseFullPrecisionFlag>(json.data(), json.size());
    if (doc.HasParseError()) return std::nullopt;
    std::string out;
    MsgpackOut w(out);
    transcode(w, doc);
    return out;
}

}  // namespace livesync::protocol
