// LSN helpers both sides use: the text form Postgres prints ("16/B374D848"), and the
// Redis stream entry IDs derived from commit LSNs ("<lsn as uint64>-<part>").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace livesync::common {

// "0/16B3748" as Postgres prints it.
std::string format_lsn(uint64_t lsn);

// Parses "X/Y" (hex halves, as pg_lsn's text form). Returns nullopt for anything else.
std::optional<uint64_t> parse_lsn(std::string_view text);

struct StreamId {
    uint64_t lsn = 0;
    uint64_t seq = 0;
    bool operator<(const StreamId &o) const { return lsn < o.lsn || (lsn == o.lsn && seq < o.seq); }
    bool operator==(const StreamId &o) const { return lsn == o.lsn && seq == o.seq; }
    bool operator<=(const StreamId &o) const { return !(o < *this); }
};

std::string format_stream_id(StreamId id);

// Parses "<ms>-<seq>" as Redis prints stream IDs.
std::optional<StreamId> parse_stream_id(std::string_view text);

}  // namespace livesync::common
