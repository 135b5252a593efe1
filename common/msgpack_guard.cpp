#include "msgpack_guard.hpp"

#include <cstdint>
#include <vector>

namespace livesync::common {

namespace {
uint64_t read_be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
    return v;
}
}  // namespace

bool msgpack_sizes_plausible(std::string_view bytes, size_t max_depth, std::string *error) {
    const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
    size_t len = bytes.size(), pos = 0;
    // Values still expected in each open container; a top-level value is one.
    std::vector<uint64_t> pending{1};
    auto fail = [&](const std::string &what) {
        *error = what + " at byte " + std::to_string(pos);
        return false;
    };
    while (!pending.empty()) {
        if (pending.back() == 0) {
            pending.pop_back();
            continue;
        }
        --pending.back();
        if (pos >= len) return fail("truncated msgpack");
        unsigned char b = p[pos++];
        size_t left = len - pos;
        uint64_t skip = 0, children = 0;
        int header = 0;  // bytes of length that follow the type byte
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            // fixint, nil, bool
        } else if (b <= 0x8f) {
            children = 2ull * (b & 0x0f);
        } else if (b <= 0x9f) {
            children = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
                case 0xc4: case 0xd9: header = 1; break;             // bin8, str8
                case 0xc5: case 0xda: header = 2; break;             // bin16, str16
                case 0xc6: case 0xdb: header = 4; break;             // bin32, str32
                case 0xc7: header = 1; skip = 1; break;              // ext8 (+type)
                case 0xc8: header = 2; skip = 1; break;              // ext16
                case 0xc9: header = 4; skip = 1; break;              // ext32
                case 0xca: skip = 4; break;
                case 0xcb: skip = 8; break;
                case 0xcc: case 0xd0: skip = 1; break;
                case 0xcd: case 0xd1: skip = 2; break;
                case 0xce: case 0xd2: skip = 4; break;
                case 0xcf: case 0xd3: skip = 8; break;
                case 0xd4: skip = 2; break;                          // fixext1..16 (+type)
                case 0xd5: skip = 3; break;
                case 0xd6: skip = 5; break;
                case 0xd7: skip = 9; break;
                case 0xd8: skip = 17; break;
                case 0xdc: case 0xde: header = 2; break;             // array16, map16
                case 0xdd: case 0xdf: header = 4; break;             // array32, map32
                default: return fail("malformed msgpack: invalid type byte");  // 0xc1
            }
            if (header) {
                if (left < static_cast<size_t>(header)) return fail("truncated msgpack");
                uint64_t n = read_be(p + pos, header);
                pos += header;
                left -= header;
                if (b == 0xdc || b == 0xdd) children = n;
                else if (b == 0xde || b == 0xdf) children = 2 * n;
                else skip += n;
            }
        }
        if (skip > left) return fail("msgpack length beyond the end of the data");
        pos += skip;
        if (children > 0) {
            if (children > len - pos) return fail("truncated msgpack: a container claims more elements than there are bytes");
            if (pending.size() > max_depth) return fail("msgpack nested deeper than " + std::to_string(max_depth) + " levels");
            pending.push_back(children);
        }
    }
    return true;
}

}  // namespace livesync::common
