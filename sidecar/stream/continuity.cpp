#include "sidecar/stream/continuity.hpp"

#include <algorithm>

namespace livesync::stream {

bool replay_continuity(common::StreamId after, const StreamView &view) {
    // Ahead of everything the stream ever held: its entries were lost, or the position
    // is not from this stream. Either way the client cannot be brought up to date.
    uint64_t known = std::max(view.tail ? view.tail->lsn : 0, view.trimmed_lsn.value_or(0));
    if (after.lsn > known) return false;
    if (view.held_at_or_below) return true;
    if (view.trimmed_lsn) {
        // trimmed_lsn = T: transactions up to and including T may be incomplete. A client
        // holding whole transactions through L is fine when L >= T; one in the middle of
        // transaction L needs L's later parts, so L > T.
        return after.seq == kWholeTransaction ? after.lsn >= *view.trimmed_lsn : after.lsn > *view.trimmed_lsn;
    }
    return false;  // nothing at or below the position and no marker: no proof
}

bool live_continuity(common::StreamId last_read, const StreamView &view,
                     const std::optional<uint64_t> &trimmed_at_snapshot) {
    if (last_read == common::StreamId{0, 0}) return view.trimmed_lsn == trimmed_at_snapshot;
    return replay_continuity(last_read, view);
}

bool stream_behind(common::StreamId last_read, const StreamView &view) {
    return view.tail && *view.tail < last_read;
}

size_t drop_through(common::ChangeBatch &batch, uint64_t through_lsn) {
    auto &txns = batch.transactions;
    auto first_new = std::find_if(txns.begin(), txns.end(),
                                  [&](const common::Transaction &t) { return t.lsn > through_lsn; });
    auto dropped = static_cast<size_t>(first_new - txns.begin());
    txns.erase(txns.begin(), first_new);
    return dropped;
}

}  // namespace livesync::stream
