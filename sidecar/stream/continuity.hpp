// What the change stream proves about a position: whether it still holds every entry
// after it. One rule for both readers — the replay reader (may a session resume from
// its last_lsn?) and the live reader (did it miss entries while it was behind or away?)
// — so a client is told resync_required on the same evidence either way.
#pragma once

#include <cstdint>
#include <optional>

#include "common/change_batch.hpp"
#include "common/lsn.hpp"

namespace livesync::stream {

// The seq of a position that holds every part of its transaction: a client's last_lsn L
// is {L, kWholeTransaction}.
inline constexpr uint64_t kWholeTransaction = UINT64_MAX;

// The stream's state around a position, as one MULTI/EXEC saw it.
struct StreamView {
    std::optional<uint64_t> trimmed_lsn;            // <prefix>trimmed_lsn, absent when never trimmed
    std::optional<common::StreamId> held_at_or_below;  // newest entry <= after, if any is held
    std::optional<common::StreamId> tail;           // newest entry, if any
};

// True when the stream provably still holds every entry after `after`: an entry at or
// below it is still there (trimming only removes the oldest entries), or the trim marker
// says nothing above it was trimmed. A position above the stream's tail (Redis lost
// data, or a last_lsn from another database) is never continuous. No proof: false.
bool replay_continuity(common::StreamId after, const StreamView &view);

// The live reader's rule. `last_read` is the last entry it handed over, or the tail of
// its snapshot; for those it is replay_continuity. The one position that is no entry
// is 0-0, a snapshot of an empty stream: nothing can be held at or below it, so the
// proof is that nothing was trimmed since that snapshot — the marker is what the
// snapshot saw (the replicator's trim raises it whenever it removes an entry).
bool live_continuity(common::StreamId last_read, const StreamView &view,
                     const std::optional<uint64_t> &trimmed_at_snapshot);

// The live reader read past the stream's newest entry: Redis came back with less than it
// had handed over (a failover to a replica the newest entries had not reached yet, or a
// restart from an older save). live_continuity() says no, yet nothing is missing for
// this sidecar's sessions: they have those transactions, and the replicator publishes
// them again, as its slot did not move past them (livesync.redis_min_replicas). So when
// the reader stopped at a transaction's end, it waits for the stream to pass last_read
// again and drops the transactions it handed over already (drop_through), instead of
// telling every session resync_required.
bool stream_behind(common::StreamId last_read, const StreamView &view);

// Drops the transactions (every part) of commit LSN at or below `through_lsn` from a
// batch: entries published again may be cut differently (other batches, other split
// points), so one after the last entry read can still hold them. Returns how many were
// dropped.
size_t drop_through(common::ChangeBatch &batch, uint64_t through_lsn);

}  // namespace livesync::stream
