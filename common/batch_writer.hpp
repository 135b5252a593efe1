// Assembles version-1 change batches (see change_batch.hpp) from the output plugin's
// messages without re-encoding them: change maps are copied verbatim and the counts are
// array32 placeholders patched when a transaction or the batch is closed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace livesync::common {

class BatchWriter {
public:
    BatchWriter() { clear(); }

    // Starts a transaction (or the next part of a split one). commit_unix_usec is the
    // commit time in microseconds since the Unix epoch.
    void begin_txn(uint64_t lsn, uint32_t xid, int64_t commit_unix_usec, uint32_t part);
    void add_change(std::string_view change_msgpack);
    // Closes the open transaction part; final = false when more parts follow.
    void end_txn(bool final);

    bool in_txn() const { return txn_start_ != 0; }
    uint32_t txn_count() const { return txn_count_; }
    uint32_t change_count() const { return change_count_; }
    // Changes in the open transaction part (0 when none is open).
    uint32_t txn_change_count() const { return in_txn() ? txn_changes_ : 0; }
    // The newest transaction part begun: its commit LSN, part number and final flag
    // (the final flag is known once end_txn closed it). The stream entry ID is
    // <last_lsn>-<last_part>.
    uint64_t last_lsn() const { return last_lsn_; }
    uint32_t last_part() const { return last_part_; }
    bool last_final() const { return last_final_; }
    size_t size() const { return buf_.size(); }
    bool empty() const { return txn_count_ == 0 && !in_txn(); }

    // The finished batch; valid until the next call that changes the writer.
    std::string_view bytes();
    void clear();

private:
    std::string buf_;
    size_t txn_start_ = 0;   // offset of the open transaction's final flag, 0 if none
    uint32_t txn_count_ = 0;
    uint32_t txn_changes_ = 0;
    uint32_t change_count_ = 0;
    uint64_t last_lsn_ = 0;
    uint32_t last_part_ = 0;
    bool last_final_ = true;
};

// Postgres TimestampTz (microseconds since 2000-01-01) to Unix microseconds.
inline int64_t pg_timestamp_to_unix_usec(int64_t pg_usec) { return pg_usec + 946684800LL * 1000000; }

}  // namespace livesync::common
