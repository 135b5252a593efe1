#include "sidecar/stream/replay.hpp"

#include "common/lsn.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/stream/resync.hpp"
#include "sidecar/stream/stream_entry.hpp"

namespace livesync::stream {

namespace {

using Entry = session::SubscriptionEntry;

// Rewinds a session's replay for its Ready snapshot subscriptions (before the replay asks
// for a page): they go live from their start positions (snapshot_coordinator.hpp), the
// others skip what they already had. No-op when none is Ready.
void snapshot_rewind(session::Session &s) {
    if (!s.has_snapshot(Entry::Snapshot::Ready)) return;
    common::StreamId through = s.replay.through;
    std::vector<std::string> ids;
    for (const auto &[table, subs] : s.subs_by_table())
        for (const Entry &e : subs) ids.push_back(e.id);
    uint64_t start = UINT64_MAX;
    for (const std::string &id : ids) {
        Entry *e = s.find_subscription(id);
        if (e->snapshot == Entry::Snapshot::None) {
            // It has every entry up to `through`: from the rewound position it gets only
            // what follows.
            if (e->skip_through < through) e->skip_through = through;
        } else if (e->snapshot == Entry::Snapshot::Ready) {
            e->snapshot = Entry::Snapshot::None;
            e->live_after = e->snapshot_start_after;
            start = std::min(start, e->snapshot_start_after);
        }
    }
    common::StreamId rewound{start, stream::kWholeTransaction};
    if (rewound < through) s.replay.through = rewound;
    s.set_snapshot_filters();
}

}  // namespace

ReplayCoordinator::ReplayCoordinator(session::SessionTable &sessions, const rules::LiveState &live, ops::Counters &counters,
                                     std::function<void(ReplayRequest)> request, size_t low_water_bytes)
    : sessions_(sessions), live_(live), counters_(counters), request_(std::move(request)),
      low_water_bytes_(low_water_bytes) {}

namespace {

bool changes_config(const common::Transaction &txn) {
    for (const common::Change &c : txn.changes)
        if (rules::PublishedTables::is_config_change(c)) return true;
    return false;
}

}  // namespace

void ReplayCoordinator::begin_resume(session::Session &s, uint64_t last_lsn) {
    counters_.resumes.fetch_add(1);
    s.replay = session::ReplayCursor{};
    s.replay.active = true;
    s.replay.through = common::StreamId{last_lsn, kWholeTransaction};
    advance(s);
}

void ReplayCoordinator::begin_catch_up(session::Session &s, common::StreamId through) {
    counters_.catch_ups.fetch_add(1);
    s.replay = session::ReplayCursor{};
    s.replay.active = true;
    s.replay.announce = false;
    s.replay.through = through;
    // Its queue is above the high-water mark: the first page waits until it drained
    // (on_drained), by which time live fan-out has moved past `through`.
    s.replay.waiting_for_drain = true;
}

void ReplayCoordinator::advance(session::Session &s) {
    s.replay.waiting_for_drain = false;
    if (!s.replay.active || s.replay.page_outstanding || s.close_request()) return;
    if (s.snapshot_filters()) {
        // Held while a subscription sends its snapshot rows; rewound for those that ended.
        if (s.has_snapshot(session::SubscriptionEntry::Snapshot::Rows)) return;
        snapshot_rewind(s);
    }
    if (live_.last_id <= s.replay.through) {
        // Everything live fan-out applied so far went out through the replay; what it
        // applies next and the replay already sent is skipped by live_skip_through.
        s.replay.active = false;
        s.live_skip_through = s.replay.through;
        release(s.serial());
        if (s.replay.announce) s.send_text(protocol::encode_caught_up(s.replay.through.lsn));
        return;
    }
    if (s.queue().bytes() >= low_water_bytes_) {
        s.replay.waiting_for_drain = true;
        return;
    }
    // Its previous page (if any) has drained: its slot is free for whoever waits longest.
    release(s.serial());
    if (!acquire(s.serial())) {
        if (!s.replay.waiting_for_slot) waiting_.push_back(s.serial());
        s.replay.waiting_for_slot = true;
        return;
    }
    s.replay.waiting_for_slot = false;
    s.replay.page_outstanding = true;
    request_(ReplayRequest{s.serial(), s.replay.through});
}

bool ReplayCoordinator::acquire(uint64_t serial) {
    if (holders_.count(serial)) return true;
    if (holders_.size() >= kMaxPagesInFlight) purge();
    if (holders_.size() >= kMaxPagesInFlight) return false;
    holders_.insert(serial);
    return true;
}

void ReplayCoordinator::purge() {
    // Slots of sessions that left, or stopped replaying (resync_required), are free.
    for (auto it = holders_.begin(); it != holders_.end();) {
        session::Session *h = sessions_.find_serial(*it);
        it = (h == nullptr || !h->replay.active || h->close_request()) ? holders_.erase(it) : std::next(it);
    }
}

void ReplayCoordinator::tick() {
    purge();
    grant();
}

void ReplayCoordinator::release(uint64_t serial) {
    if (holders_.erase(serial) != 0) grant();
}

void ReplayCoordinator::grant() {
    while (!waiting_.empty() && holders_.size() < kMaxPagesInFlight) {
        session::Session *w = sessions_.find_serial(waiting_.front());
        waiting_.pop_front();
        if (w == nullptr || !w->replay.active || !w->replay.waiting_for_slot) continue;
        w->replay.waiting_for_slot = false;
        advance(*w);
    }
}

void ReplayCoordinator::resync(session::Session &s) {
    counters_.resyncs_required.fetch_add(1);
    ops::info("resume impossible: resync_required",
              {{"client_id", s.greeted() ? s.client_id() : std::string()},
               {"after", common::format_lsn(s.replay.through.lsn)}});
    // Live from here on: the client reloads its state as of this position.
    require_resync(s, live_);
}

void ReplayCoordinator::on_page(ReplayPage &page) {
    session::Session *s = sessions_.find_serial(page.session_serial);
    if (s == nullptr || !s->replay.active || !(page.after == s->replay.through)) return;
    s->replay.page_outstanding = false;
    if (s->close_request()) return;
    switch (page.outcome) {
        case ReplayPage::Outcome::Gap: resync(*s); return;
        case ReplayPage::Outcome::Failed:
            ops::warn("resume failed", {{"client_id", s->greeted() ? s->client_id() : std::string()},
                                        {"error", page.error}});
            // The client reconnects with the same last_lsn later; nothing is skipped.
            s->request_close(1011, "resume failed: stream unavailable, reconnect");
            return;
        case ReplayPage::Outcome::Page: break;
    }
    for (StreamBatch &entry : page.entries) {
        // Not applied live yet, so a config version it makes is not known here: live
        // fan-out carries it (advance() finds the session caught up at live_.last_id).
        if (live_.last_id < entry.id) break;
        // Decoded here, one entry at a time: pages travel encoded.
        std::string error;
        if (!entry.raw.empty() && !decode_raw(entry, &error)) entry.batch.transactions.clear();  // the live reader logs it
        for (const common::Transaction &txn : entry.batch.transactions) {
            // Judged by the config in force at its own commit, as it was live.
            std::shared_ptr<const rules::ConfigVersion> config = live_.history.at(common::StreamId{txn.lsn, txn.part});
            if (!config) {
                counters_.resume_config_missing.fetch_add(1);
                ops::info("resume impossible: no config version that old", {{"lsn", common::format_lsn(txn.lsn)}});
                resync(*s);
                return;
            }
            deliver_to(txn, *config, *s, counters_, entry.id);
            if (on_config_ && changes_config(txn)) on_config_(*s, *config);
        }
        // Freed at once: several pages may be handled in one wake-up, and a decoded
        // entry takes several times its encoded size.
        entry.batch = common::ChangeBatch{};
        if (s->close_request()) return;  // queue overflow: the client resumes again later
        s->replay.through = entry.id;
    }
    advance(*s);
}

}  // namespace livesync::stream
