#include "sidecar/session/xid_snapshot.hpp"

#include <algorithm>
#include <charconv>

namespace livesync::session {

namespace {

bool parse_u64(std::string_view text, uint64_t &out) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<XidSnapshot> XidSnapshot::parse(std::string_view text, std::string *error) {
    XidSnapshot s;
    size_t a = text.find(':');
    size_t b = a == std::string_view::npos ? a : text.find(':', a + 1);
    if (b == std::string_view::npos || !parse_u64(text.substr(0, a), s.xmin) ||
        !parse_u64(text.substr(a + 1, b - a - 1), s.xmax) || s.xmin > s.xmax) {
        *error = "not a pg_snapshot (xmin:xmax:xip,...): \"" + std::string(text.substr(0, 64)) + "\"";
        return std::nullopt;
    }
    std::string_view rest = text.substr(b + 1);
    while (!rest.empty()) {
        size_t comma = rest.find(',');
        uint64_t xid = 0;
        if (!parse_u64(rest.substr(0, comma), xid) || xid < s.xmin || xid >= s.xmax) {
            *error = "bad in-progress xid in pg_snapshot \"" + std::string(text.substr(0, 64)) + "\"";
            return std::nullopt;
        }
        s.xip.push_back(xid);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
        if (rest.empty()) {
            *error = "trailing comma in pg_snapshot";
            return std::nullopt;
        }
    }
    std::sort(s.xip.begin(), s.xip.end());
    return s;
}

uint64_t widen_xid(uint32_t xid, uint64_t reference) {
    auto delta = static_cast<int32_t>(xid - static_cast<uint32_t>(reference));
    return static_cast<uint64_t>(static_cast<int64_t>(reference) + delta);
}

bool XidSnapshot::sees(uint32_t xid) const {
    uint64_t full = widen_xid(xid, xmax);
    if (full < xmin) return true;
    if (full >= xmax) return false;
    return !std::binary_search(xip.begin(), xip.end(), full);
}

void RecentCommits::add(uint32_t xid, uint64_t lsn) {
    if (capacity_ == 0) return;
    ++added_;
    if (ring_.size() < capacity_) {
        ring_.push_back(Commit{xid, lsn});
        return;
    }
    ring_[next_] = Commit{xid, lsn};
    next_ = (next_ + 1) % capacity_;
}

uint64_t RecentCommits::start_after(uint64_t up_to, const SnapshotCut &cut) const {
    uint64_t start = up_to;
    for (const Commit &c : ring_)
        if (c.lsn <= up_to && c.lsn > 0 && !cut.contains(c.xid)) start = std::min(start, c.lsn - 1);
    return start;
}

}  // namespace livesync::session
