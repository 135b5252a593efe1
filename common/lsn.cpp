#include "lsn.hpp"

#include <charconv>
#include <cstdio>

namespace livesync::common {

std::string format_lsn(uint64_t lsn) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32),
                  static_cast<unsigned>(lsn & 0xffffffffu));
    return buf;
}

namespace {
std::optional<uint32_t> parse_hex32(std::string_view part) {
    if (part.empty() || part.size() > 8) return std::nullopt;
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v, 16);
    if (ec != std::errc() || p != part.data() + part.size()) return std::nullopt;
    return v;
}

std::optional<uint64_t> parse_dec64(std::string_view part) {
    if (part.empty()) return std::nullopt;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v, 10);
    if (ec != std::errc() || p != part.data() + part.size()) return std::nullopt;
    return v;
}
}  // namespace

std::optional<uint64_t> parse_lsn(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto hi = parse_hex32(text.substr(0, slash));
    auto lo = parse_hex32(text.substr(slash + 1));
    if (!hi || !lo) return std::nullopt;
    return (static_cast<uint64_t>(*hi) << 32) | *lo;
}

std::string format_stream_id(StreamId id) {
    return std::to_string(id.lsn) + "-" + std::to_string(id.seq);
}

std::optional<StreamId> parse_stream_id(std::string_view text) {
    auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto lsn = parse_dec64(text.substr(0, dash));
    auto seq = parse_dec64(text.substr(dash + 1));
    if (!lsn || !seq) return std::nullopt;
    return StreamId{*lsn, *seq};
}

}  // namespace livesync::common
