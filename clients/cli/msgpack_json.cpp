#include "common/msgpack_guard.hpp"
#include "clients/cli/msgpack_json.hpp"

#include <msgpack.h>

#include <cstring>

#include "common/change_batch.hpp"

namespace livesync::cli {

namespace {

int append_bytes(void *data, const char *buf, size_t len) {
    static_cast<std::string *>(data)->append(buf, len);
    return 0;
}

// A typed scalar (float, bin, ext) rendered exactly as the JSON encoding renders column
// values: the value is wrapped in a one-column change map and read by the one decoder of
// the batch format (common/change_batch.hpp), so no second copy of the type mapping exists.
bool append_typed_json(std::string &out, const msgpack_object &o) {
    std::string change;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &change, append_bytes);
    msgpack_pack_map(&pk, 4);
    for (const char *s : {"op", "i", "schema", "s", "table", "t", "new"}) {
        msgpack_pack_str(&pk, std::strlen(s));
        msgpack_pack_str_body(&pk, s, std::strlen(s));
    }
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "v", 1);
    msgpack_pack_object(&pk, o);
    std::string error;
    auto decoded = common::decode_change(change, &error);
    if (!decoded || decoded->new_values.size() != 1) return false;
    common::append_value_json(out, decoded->new_values[0].value);
    return true;
}

bool append_json(std::string &out, const msgpack_object &o) {
    switch (o.type) {
        case MSGPACK_OBJECT_NIL: out += "null"; return true;
        case MSGPACK_OBJECT_BOOLEAN: out += o.via.boolean ? "true" : "false"; return true;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: out += std::to_string(o.via.u64); return true;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: out += std::to_string(o.via.i64); return true;
        case MSGPACK_OBJECT_STR:
            common::append_json_string(out, std::string_view(o.via.str.ptr, o.via.str.size));
            return true;
        case MSGPACK_OBJECT_ARRAY:
            out += '[';
            for (uint32_t i = 0; i < o.via.array.size; ++i) {
                if (i) out += ',';
                if (!append_json(out, o.via.array.ptr[i])) return false;
            }
            out += ']';
            return true;
        case MSGPACK_OBJECT_MAP:
            out += '{';
            for (uint32_t i = 0; i < o.via.map.size; ++i) {
                const msgpack_object_kv &kv = o.via.map.ptr[i];
                if (kv.key.type != MSGPACK_OBJECT_STR) return false;
                if (i) out += ',';
                common::append_json_string(out, std::string_view(kv.key.via.str.ptr, kv.key.via.str.size));
                out += ':';
                if (!append_json(out, kv.val)) return false;
            }
            out += '}';
            return true;
        default: return append_typed_json(out, o);
    }
}

}  // namespace

std::optional<std::string> msgpack_to_json(std::string_view bytes, std::string *error) {
    // Sizes are checked before msgpack-c allocates what container headers claim.
    if (!livesync::common::msgpack_sizes_plausible(bytes, 64, error)) return std::nullopt;
    livesync::common::Unpacked u;
    size_t off = 0;
    if (msgpack_unpack_next(&u.result, bytes.data(), bytes.size(), &off) != MSGPACK_UNPACK_SUCCESS ||
        off != bytes.size()) {
        *error = "not one msgpack value";
        return std::nullopt;
    }
    std::string json;
    if (!append_json(json, u.result.data)) {
        *error = "a msgpack value with no JSON form (non-str key or unknown ext type)";
        return std::nullopt;
    }
    return json;
}

}  // namespace livesync::cli
