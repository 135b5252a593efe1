// Server → client messages of livesync.v1.msgpack. The "changes" frame carries every
// value typed (common/change_batch.hpp's ext codes passed through unchanged, bytea as
// bin, timestamps as msgpack timestamps); every other server frame is built once as
// JSON by server_frame.hpp and transcoded here, so the two encodings cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <msgpack.h>

#include "common/change_batch.hpp"

namespace livesync::protocol {

// Appends msgpack to a std::string (msgpack-c's packer does the encoding).
class MsgpackOut {
public:
    explicit MsgpackOut(std::string &out);
    void nil();
    void boolean(bool b);
    void int64(int64_t i);
    void uint64(uint64_t u);
    void float64(double f);
    void float32(float f);
    void str(std::string_view s);
    void bin(std::string_view b);
    void ext(int8_t type, std::string_view body);
    void timestamp(int64_t sec, uint32_t nsec);
    void array(uint32_t n);
    void map(uint32_t n);
    // An array32 header whose count is patched later with patch_count(offset, n).
    size_t array32_placeholder();
    void patch_count(size_t offset, uint32_t n);

    void value(const common::Value &v);

private:
    std::string &out_;
    msgpack_packer pk_;
};

// Appends the fields of one change as the client sees it (the same fields, in the same
// order, as common::append_change_json) without a map header; returns how many fields
// (key/value pairs) it appended.
uint32_t append_change_fields_msgpack(std::string &out, const common::Change &change);

// A JSON text (a server frame) as msgpack: objects → maps in the same key order,
// integers → ints, other numbers → float64, strings → str. Returns nullopt on JSON that
// does not parse (never for frames server_frame.hpp built).
std::optional<std::string> json_to_msgpack(std::string_view json);

}  // namespace livesync::protocol
