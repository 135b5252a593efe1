// A check run on outside msgpack bytes before msgpack-c unpacks them. msgpack-c's
// unpacker allocates what a container header claims (an array32 header of 5 bytes can
// claim 2^32 elements: ~100 GiB) before it reads the elements; found by fuzzing. This
// walks the bytes without allocating and refuses any container whose claimed element
// count exceeds the bytes left (every element takes at least one), any str/bin/ext
// longer than the bytes left, nesting deeper than max_depth, and the unused byte 0xc1.
#pragma once

#include <msgpack.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace livesync::common {

// RAII owner of one msgpack-c unpack result (its zone holds every object).
struct Unpacked {
    msgpack_unpacked result;
    Unpacked() { msgpack_unpacked_init(&result); }
    ~Unpacked() { msgpack_unpacked_destroy(&result); }
    Unpacked(const Unpacked &) = delete;
    Unpacked &operator=(const Unpacked &) = delete;
};

// True when `bytes` hold one msgpack value whose sizes are all plausible (trailing bytes
// are left to the caller); otherwise false and *error says what was wrong.
bool msgpack_sizes_plausible(std::string_view bytes, size_t max_depth, std::string *error);

}  // namespace livesync::common
