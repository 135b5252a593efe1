// Decoder of livesync.v1.msgpack client messages: msgpack → the rapidjson DOM the JSON
// decoder produces, then the same validator (client_document.hpp). msgpack values that
// JSON has no form for (bin, ext) mean nothing in a client frame and are refused here.
#include "common/msgpack_guard.hpp"
#include <msgpack.h>
#include <rapidjson/encodings.h>
#include <rapidjson/stringbuffer.h>

#include <string>

#include "sidecar/protocol/client_document.hpp"

namespace livesync::protocol {

namespace {

using common::Unpacked;

FrameError bad_msgpack(std::string message) { return FrameError{"bad_msgpack", std::move(message), std::nullopt}; }

bool valid_utf8(const char *p, size_t n) {
    rapidjson::MemoryStream in(p, n);
    rapidjson::StringBuffer sink;
    while (in.Tell() < n)
        if (!rapidjson::UTF8<>::Validate(in, sink)) return false;
    return true;
}

// where: the path of the value, for the error message ("subscriptions[0].id").
bool to_dom(const msgpack_object &o, rapidjson::Value &out, rapidjson::Document::AllocatorType &alloc,
            const std::string &where, std::string &error) {
    switch (o.type) {
        case MSGPACK_OBJECT_NIL: out.SetNull(); return true;
        case MSGPACK_OBJECT_BOOLEAN: out.SetBool(o.via.boolean); return true;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: out.SetUint64(o.via.u64); return true;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: out.SetInt64(o.via.i64); return true;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: out.SetDouble(o.via.f64); return true;
        case MSGPACK_OBJECT_STR:
            if (!valid_utf8(o.via.str.ptr, o.via.str.size)) {
                error = "str at " + where + " is not valid UTF-8";
                return false;
            }
            // msgpack-c gives an empty str a null pointer, which rapidjson refuses (fuzzing).
            out.SetString(o.via.str.size ? o.via.str.ptr : "", o.via.str.size, alloc);
            return true;
        case MSGPACK_OBJECT_ARRAY:
            out.SetArray();
            out.Reserve(o.via.array.size, alloc);
            for (uint32_t i = 0; i < o.via.array.size; ++i) {
                rapidjson::Value e;
                if (!to_dom(o.via.array.ptr[i], e, alloc, where + "[" + std::to_string(i) + "]", error)) return false;
                out.PushBack(e, alloc);
            }
            return true;
        case MSGPACK_OBJECT_MAP:
            out.SetObject();
            for (uint32_t i = 0; i < o.via.map.size; ++i) {
                const msgpack_object_kv &kv = o.via.map.ptr[i];
                if (kv.key.type != MSGPACK_OBJECT_STR) {
                    error = "map keys must be str (a key in " + where + " is not)";
                    return false;
                }
                std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
                if (!valid_utf8(key.data(), key.size())) {
                    error = "a key in " + where + " is not valid UTF-8";
                    return false;
                }
                std::string path = where == "the frame" ? key : where + "." + key;
                if (path.size() > 200) path = where;
                rapidjson::Value v;
                if (!to_dom(kv.val, v, alloc, path, error)) return false;
                out.AddMember(rapidjson::Value(key.data(), static_cast<rapidjson::SizeType>(key.size()), alloc), v,
                              alloc);
            }
            return true;
        case MSGPACK_OBJECT_BIN:
        case MSGPACK_OBJECT_EXT:
            error = std::string(o.type == MSGPACK_OBJECT_BIN ? "bin" : "ext") + " value at " + where +
                    ": client frames hold only nil, bool, int, float, str, array and map";
            return false;
    }
    error = "unknown msgpack type at " + where;
    return false;
}

}  // namespace

ClientFrame parse_client_msgpack(std::string_view bytes) {
    if (bytes.empty()) return bad_msgpack("empty message");
    // Before msgpack-c allocates what container headers claim (fuzzing found a 5-byte
    // frame asking for ~100 GiB).
    if (std::string size_error; !common::msgpack_sizes_plausible(bytes, 32, &size_error))
        return bad_msgpack(size_error);
    Unpacked u;
    size_t off = 0;
    switch (msgpack_unpack_next(&u.result, bytes.data(), bytes.size(), &off)) {
        case MSGPACK_UNPACK_SUCCESS: break;
        case MSGPACK_UNPACK_CONTINUE:
            return bad_msgpack("truncated msgpack: the message ends inside a value (" + std::to_string(bytes.size()) +
                               " bytes)");
        case MSGPACK_UNPACK_NOMEM_ERROR:
            // What msgpack-c answers past its nesting limit.
            return bad_msgpack("msgpack nested deeper than 32 levels");
        default: return bad_msgpack("malformed msgpack: an invalid type byte");
    }
    if (off != bytes.size())
        return bad_msgpack("trailing bytes after the msgpack map (" + std::to_string(bytes.size() - off) +
                           " bytes at offset " + std::to_string(off) + ")");
    if (u.result.data.type != MSGPACK_OBJECT_MAP) return FrameError{"bad_request", "frame must be a msgpack map", std::nullopt};
    rapidjson::Document doc;
    std::string error;
    if (!to_dom(u.result.data, doc, doc.GetAllocator(), "the frame", error)) return bad_msgpack(error);
    return parse_client_document(doc);
}

ClientFrame parse_client_message(Encoding encoding, std::string_view bytes) {
    return encoding == Encoding::Msgpack ? parse_client_msgpack(bytes) : parse_client_frame(bytes);
}

}  // namespace livesync::protocol
