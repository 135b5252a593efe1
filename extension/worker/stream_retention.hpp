// Stream retention: after each XADD, in the same MULTI/EXEC, a Lua script trims
// <prefix>changes by entry count (livesync.stream_max_entries, approximate, XTRIM
// MAXLEN ~) and/or by age (livesync.stream_max_age, by each entry's `time` field, the
// replicator's clock when it wrote the entry), and raises <prefix>trimmed_lsn to the
// highest commit LSN no longer guaranteed complete in the stream. A sidecar asked to
// resume from an LSN below that marker answers resync_required instead of leaving a
// silent gap. The marker only grows.
#pragma once

#include "redis_link.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace livesync::extension::worker {

class StreamRetention {
public:
    // Reads the GUCs; false when neither bound is set (then nothing is ever trimmed).
    bool configure(int max_entries, int max_age_seconds, int64_t now_unix_ms);
    // Appends the EVAL of the trim script; the strings live in this object until the
    // next configure().
    void append_command(const std::string &stream_key, const std::string &marker_key, std::vector<Command> &out);

private:
    std::string max_entries_;
    std::string min_time_ms_;
};

}  // namespace livesync::extension::worker
