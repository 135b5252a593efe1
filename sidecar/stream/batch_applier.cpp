#include "sidecar/stream/batch_applier.hpp"

#include <algorithm>
#include <deque>

#include "sidecar/ops/log.hpp"
#include "sidecar/stream/fanout.hpp"
#include "sidecar/stream/resync.hpp"

namespace livesync::stream {

namespace {

void send_counted(session::Session &s, const protocol::Frame &frame, ops::Counters &counters) {
    switch (s.send(frame)) {
        case session::Session::SendResult::Queued: counters.frames_queued.fetch_add(1); break;
        case session::Session::SendResult::Overflow:
            counters.send_queue_overflows.fetch_add(1);
            ops::warn("session closed: send queue overflow",
                      {{"client_id", s.greeted() ? s.client_id() : std::string()}, {"address", s.address()}});
            break;
        case session::Session::SendResult::Closing: break;
    }
}

// A resuming session gets this entry from its replay, or already got it from there.
bool served_by_replay(const session::Session &s, common::StreamId entry) {
    return s.replay.active || entry <= s.live_skip_through;
}

// The live sessions that would receive anything of the batch.
// Adds the tables txn's changes are on to tables, each once.
void add_tables(const common::Transaction &txn, std::vector<std::string> &tables) {
    for (const common::Change &c : txn.changes)
        for (std::string &table : change_tables(c))
            if (std::find(tables.begin(), tables.end(), table) == tables.end()) tables.push_back(std::move(table));
}

std::vector<session::Session *> batch_candidates(const StreamBatch &batch, session::SessionTable &sessions) {
    std::vector<std::string> tables;
    for (const common::Transaction &txn : batch.batch.transactions) add_tables(txn, tables);
    std::vector<session::Session *> out;
    for (const std::string &table : tables)
        if (const auto *subs = sessions.subscribers(table))
            for (session::Session *s : *subs)
                if (!served_by_replay(*s, batch.id) && !s->close_request()) out.push_back(s);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// After a part of txn went out: who now holds an unfinished split transaction, and the
// empty final part for a session that got earlier parts but nothing of the last one.
void track_split(session::Session &s, const common::Transaction &txn, bool got_frame, ops::Counters &counters) {
    if (got_frame) {
        s.split_open_lsn = txn.final ? 0 : txn.lsn;
        return;
    }
    if (txn.final && s.split_open_lsn == txn.lsn && txn.lsn != 0) {
        s.split_open_lsn = 0;
        counters.frames_built.fetch_add(1);
        send_counted(s, encode_empty_part(txn, s.encoding()), counters);
    }
}

}  // namespace

void deliver_to(const common::Transaction &txn, const rules::ConfigVersion &config, session::Session &s,
                ops::Counters &counters, common::StreamId entry) {
    session::SubsByTable scratch;
    std::vector<FanoutTarget> targets{FanoutTarget{0, &s.subs_for(txn, entry, scratch), s.identity(), s.encoding()}};
    bool got_frame = false;
    for (const PlannedFrame &planned : plan_fanout(txn, targets, config.tables, config.rules)) {
        counters.frames_built.fetch_add(1);
        send_counted(s, planned.frame, counters);
        got_frame = true;
    }
    track_split(s, txn, got_frame, counters);
}

void fan_out(const common::Transaction &txn, const rules::LiveState &live, session::SessionTable &sessions,
             ops::Counters &counters, common::StreamId entry, SharedFrames *shared, size_t txn_index) {
    // Only sessions subscribed to one of the transaction's tables can match. Each table
    // once: a transaction of 100 rows on one table would otherwise list every subscriber
    // 100 times and sort them all (perf: 63% of livesyncd's CPU at 1,000 clients).
    std::vector<std::string> tables;
    add_tables(txn, tables);
    std::vector<session::Session *> candidates;
    for (const std::string &table : tables)
        if (const auto *subs = sessions.subscribers(table))
            for (session::Session *s : *subs)
                if (!served_by_replay(*s, entry)) candidates.push_back(s);
    bool split = txn.part != 0 || !txn.final;
    if (split && txn.final) {
        // Sessions holding earlier parts may not be candidates of this one (it may touch
        // other tables): each gets its empty final part unless a frame of it reaches it.
        sessions.for_each([&](session::Session &s) {
            if (s.split_open_lsn == txn.lsn && !served_by_replay(s, entry)) candidates.push_back(&s);
        });
    }
    if (candidates.empty()) return;
    std::sort(candidates.begin(), candidates.end(),
              [](const session::Session *a, const session::Session *b) { return a->serial() < b->serial(); });
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

    std::vector<FanoutTarget> targets;
    targets.reserve(candidates.size());
    // Subscriptions in a snapshot see a filtered copy (session.hpp, subs_for).
    std::deque<session::SubsByTable> scratch;
    for (size_t i = 0; i < candidates.size(); ++i) {
        const session::SubsByTable *subs = &candidates[i]->subs_by_table();
        if (candidates[i]->snapshot_filters()) subs = &candidates[i]->subs_for(txn, entry, scratch.emplace_back());
        targets.push_back(FanoutTarget{i, subs, candidates[i]->identity(), candidates[i]->encoding()});
    }

    std::vector<bool> got_frame(split ? candidates.size() : 0, false);
    for (const PlannedFrame &planned : plan_fanout(txn, targets, live, shared, txn_index)) {
        if (planned.built) counters.frames_built.fetch_add(1);  // once for all threads
        for (size_t key : planned.targets) {
            send_counted(*candidates[key], planned.frame, counters);
            if (split) got_frame[key] = true;
        }
    }
    if (split)
        for (size_t i = 0; i < candidates.size(); ++i) track_split(*candidates[i], txn, got_frame[i], counters);
}

bool apply_event(const StreamEvent &event, rules::LiveState &live, session::SessionTable &sessions, ops::Counters &counters,
                 const Pacing *pacing, bool first_thread) {
    if (const auto *reset = std::get_if<StreamReset>(&event)) {
        // The config Redis offers is as of its newest version, or its tail (the hashes).
        common::StreamId offered = reset->tail;
        if (!reset->history.empty() && offered < reset->history.back().first) offered = reset->history.back().first;
        std::optional<common::StreamId> known = live.history.newest();
        if (known && offered < *known) {
            // Redis went back in time (restarted empty, restored from a backup, a replica
            // promoted before it had everything): its copy is older than the config this
            // sidecar already applied. Never applied: the newer one stays.
            if (first_thread) counters.stale_config_refused.fetch_add(1);
            if (first_thread) ops::error("Redis offers a sync config older than the one applied: kept the newer one",
                       {{"offered", common::format_stream_id(offered)}, {"applied", common::format_stream_id(*known)}});
        } else {
            // Copied: every service thread applies the same event (EventQueue).
            live.tables = reset->tables;
            live.rules = reset->rules;
            live.history.clear();
            for (const auto &[key, version] : reset->history)
                live.history.record(key, std::make_shared<const rules::ConfigVersion>(version));
            // The hashes are exact as of the tail (written in the same MULTI/EXEC as each
            // entry): the version in force from there on, unless the stream has it already.
            if (!live.history.newest() || *live.history.newest() < reset->tail)
                live.history.record(reset->tail,
                                    std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules}));
        }
        live.position = std::max(live.position, reset->tail.lsn);
        live.last_id = std::max(live.last_id, reset->tail);
        live.ready = true;
        if (reset->gap_after) resync_after_gap(*reset, live, sessions, counters, first_thread);
        // A snapshot, not a change at an LSN: a Redis that lost the config hashes (until
        // the replicator seeds them again) must not end every subscription. Fan-out
        // applies the snapshot's rules all the same.
        return false;
    }
    const auto &batch = std::get<StreamBatch>(event);
    std::vector<session::Session *> candidates;
    if (pacing) {
        // Decided once per entry, before any of it is queued: a session that falls
        // behind has every entry up to live.last_id and gets the rest from the replay.
        candidates = batch_candidates(batch, sessions);
        for (session::Session *s : candidates)
            if (s->queue().bytes() >= pacing->high_water_bytes) pacing->fall_behind(*s, live.last_id);
    }
    bool config_changed = false;
    for (size_t txn_index = 0; txn_index < batch.batch.transactions.size(); ++txn_index) {
        const common::Transaction &txn = batch.batch.transactions[txn_index];
        bool txn_config = false;
        for (const common::Change &c : txn.changes) {
            // Not exclusive: one TRUNCATE may empty both config tables.
            if (rules::PublishedTables::is_table_change(c)) {
                live.tables.apply(c);
                txn_config = true;
            }
            if (rules::RuleSet::is_rule_change(c)) {
                txn_config = true;
                std::string error;
                if (!live.rules.apply(c, &error) && first_thread)
                    ops::error("bad access rule change: it denies", {{"error", error}});
            }
        }
        if (txn_config) {
            config_changed = true;
            live.history.record(common::StreamId{txn.lsn, txn.part},
                                std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules}));
        }
        fan_out(txn, live, sessions, counters, batch.id, batch.frames.get(), txn_index);
        live.position = std::max(live.position, txn.lsn);
    }
    live.last_id = std::max(live.last_id, batch.id);
    if (pacing && pacing->busy)
        for (session::Session *s : candidates)
            if (!s->replay.active && !s->close_request() && !s->pace_excused &&
                s->queue().bytes() >= pacing->low_water_bytes)
                pacing->busy->push_back(s->serial());
    return config_changed;
}

}  // namespace livesync::stream
