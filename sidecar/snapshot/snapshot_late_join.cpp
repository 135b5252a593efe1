// SnapshotCoordinator's late joiners (snapshot_coordinator.hpp, "Sharing"): the log of
// the rows events a running query handled, kept within --snapshot-share-mb for requests
// that arrive while it runs, and how a late joiner is fed it at its own pace before it
// follows the query.
#include "sidecar/snapshot/snapshot_coordinator.hpp"

#include <algorithm>

namespace livesync::snapshot {

bool SnapshotCoordinator::catching_up(const Job &job) const {
    return std::any_of(job.subscribers.begin(), job.subscribers.end(),
                       [](const Subscriber &sub) { return sub.catching_up; });
}

bool SnapshotCoordinator::can_join_late(const Job &job) const {
    // The ring must still hold every commit since the snapshot for the joiner's start.
    return share_bytes_ > 0 && job.joinable && !job.query_done && job.cut && job.config && ring_covers(job);
}

void SnapshotCoordinator::keep(Job &job, std::shared_ptr<const Logged> rows) {
    if (job.joinable && !(share_bytes_ > 0 && logged_bytes_ + rows->bytes <= share_bytes_ && ring_covers(job)))
        job.joinable = false;
    // Late subscribers still reading the log need every event after it too (the query
    // then waits for them: maybe_more).
    if (!job.joinable && !catching_up(job)) {
        drop_log(job);
        return;
    }
    job.log_bytes += rows->bytes;
    logged_bytes_ += rows->bytes;
    job.log.push_back(std::move(rows));
}

void SnapshotCoordinator::drop_log(Job &job) {
    logged_bytes_ -= job.log_bytes;
    job.log_bytes = 0;
    std::vector<std::shared_ptr<const Logged>>().swap(job.log);
}

bool SnapshotCoordinator::feed(Job &job, Subscriber &sub, session::Session &s) {
    while (sub.catching_up && s.queue().bytes() < low_water_bytes_) {
        if (sub.next < job.log.size()) {
            if (!paced(&job.feed_waits_for_pace)) return true;
            std::shared_ptr<const Logged> rows = job.log[sub.next++];
            size_t cached = send_rows(job, *rows, &sub);
            job.log_bytes += cached;
            logged_bytes_ += cached;
            // Frames for another audience pushed the log past the budget: no more joiners.
            if (logged_bytes_ > share_bytes_) job.joinable = false;
            continue;
        }
        // It has every event the query handled: it follows the query from here.
        sub.catching_up = false;
        if (job.query_done) finish_one(job, sub);
        return settle(job);
    }
    return true;
}

bool SnapshotCoordinator::settle(Job &job) {
    if (catching_up(job)) return true;
    if (!job.joinable || job.query_done) drop_log(job);
    if (job.query_done) {
        release(job.id);
        return false;
    }
    if (job.waiting_for_drain) maybe_more(job);
    return true;
}

}  // namespace livesync::snapshot
