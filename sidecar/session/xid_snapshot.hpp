// snapshot/: a subscription's initial rows. Rows are read from one REPEATABLE READ
// transaction in Postgres (snapshot_reader: libpq, its own threads), sent at the
// client's pace (snapshot_coordinator: lws thread), and the stream's transactions that
// the snapshot already contains are told apart by transaction visibility (this file),
// never by comparing LSNs: a transaction's commit record can precede, in WAL, a snapshot
// that still sees it as in progress (docs/architecture.md, "Snapshot, then live").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::session {

// pg_current_snapshot() of the snapshot transaction: xmin, xmax and the in-progress list
// (top-level transaction ids, the ones the stream carries).
struct XidSnapshot {
    uint64_t xmin = 0;
    uint64_t xmax = 0;
    std::vector<uint64_t> xip;  // sorted

    // Parses pg_snapshot's text form "xmin:xmax:xip,xip,..." ("10:20:" without any).
    static std::optional<XidSnapshot> parse(std::string_view text, std::string *error);

    // Whether the snapshot sees transaction `xid` (as the stream carries it: 32 bits,
    // without epoch) as committed: xid < xmin, or xid < xmax and not in progress. The
    // epoch is taken from xmax: the stream transactions compared are within 2^31 of it.
    bool sees(uint32_t xid) const;
};

// The 64-bit transaction id nearest to `reference` whose low 32 bits are `xid`.
uint64_t widen_xid(uint32_t xid, uint64_t reference);

// Where a subscription's snapshot stands against the stream: which transactions the rows
// already contain (by xid, `snapshot`), and the WAL position every transaction the
// snapshot sees was committed at or before (pg_current_wal_insert_lsn() read inside the
// snapshot transaction; on a standby pg_last_wal_replay_lsn()): above it the snapshot
// sees nothing, so the check can be dropped once the stream passed it.
struct SnapshotCut {
    XidSnapshot snapshot;
    uint64_t wal_bound = 0;

    // True when the transaction's rows are already in the snapshot rows.
    bool contains(uint32_t xid) const { return snapshot.sees(xid); }
};

// Commit (xid, lsn) of the most recent transactions live fan-out applied, bounded. When a
// snapshot ends, a transaction that committed in WAL (and so reached the stream) before
// the subscription was made, but that the snapshot still saw in progress, is found here:
// the subscription then starts just below it, so no transaction is lost.
class RecentCommits {
public:
    explicit RecentCommits(size_t capacity = 65536) : capacity_(capacity) {}
    void add(uint32_t xid, uint64_t lsn);
    // The highest position P <= up_to such that every transaction here with lsn <= P is
    // seen by cut (so the subscription may start after P).
    uint64_t start_after(uint64_t up_to, const SnapshotCut &cut) const;
    size_t size() const { return ring_.size(); }
    size_t capacity() const { return capacity_; }
    // Commits added since construction: the ring still holds every commit added after the
    // count was N while added() - N <= capacity().
    uint64_t added() const { return added_; }

private:
    struct Commit {
        uint32_t xid;
        uint64_t lsn;
    };
    size_t capacity_;
    size_t next_ = 0;
    uint64_t added_ = 0;
    std::vector<Commit> ring_;
};

}  // namespace livesync::session
