#include "sidecar/snapshot/snapshot_coordinator.hpp"

#include <algorithm>

#include "sidecar/rules/access.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"
#include "sidecar/protocol/snapshot_frame.hpp"
#include "sidecar/stream/continuity.hpp"
#include "sidecar/stream/replay.hpp"

namespace livesync::snapshot {

using Entry = session::SubscriptionEntry;

namespace {

// Every row is shown whole: no tenant column, the rule's filter is TRUE, no subscription
// filter, every column of the table visible. Such a view's rows need no judging, and are
// the rows as the snapshot packed them (SnapshotEvent::whole).
bool sees_whole(const rules::Viewer &v, const std::optional<std::vector<std::string>> &visible) {
    return v.table && v.rule && v.identity && !v.table->tenant_column &&
           v.rule->filter.kind == common::FilterNode::Kind::Const && v.rule->filter.constant &&
           !(v.scope && v.scope->filter) && visible == v.table->columns;
}

// One subscriber's view of the job's table under a config (the snapshot's, or the one
// held now).
rules::Viewer viewer_of(const session::Session &s, const Entry &e, const std::string &table,
                        const rules::PublishedTables &tables, const rules::RuleSet &rule_set) {
    rules::Viewer v;
    v.table = tables.scope(table);
    v.identity = s.identity();
    v.rule = v.identity ? rule_set.find(v.identity->role, table) : nullptr;
    v.scope = e.scope.get();
    return v;
}

}  // namespace

SnapshotCoordinator::SnapshotCoordinator(session::SessionTable &sessions, const rules::LiveState &live,
                                         stream::ReplayCoordinator &replay, SnapshotQueries *reader,
                                         size_t low_water_bytes)
    : sessions_(sessions), live_(live), replay_(replay), reader_(reader), low_water_bytes_(low_water_bytes) {}

void SnapshotCoordinator::hold(session::Session &s) {
    if (s.replay.active) return;
    // Live fan-out skips a session whose replay is active; the replay (which pages only
    // once no subscription sends rows) carries it from here.
    s.replay = session::ReplayCursor{};
    s.replay.active = true;
    s.replay.announce = false;
    s.replay.through = live_.last_id;
}

void SnapshotCoordinator::resume(session::Session &s) {
    hold(s);
    replay_.resume_paging(s);
}

void SnapshotCoordinator::begin_snapshot(session::Session &s, const std::string &id) {
    Entry *entry = s.find_subscription(id);
    if (entry == nullptr) return;
    entry->snapshot = Entry::Snapshot::Rows;
    s.set_snapshot_filters();
    hold(s);

    std::string table;
    for (const auto &[t, subs] : s.subs_by_table())
        for (const Entry &e : subs)
            if (e.id == id) table = t;
    const rules::TableScope *scope = live_.tables.scope(table);
    const rules::Identity *identity = s.identity();
    std::optional<std::string> tenant;
    if (scope && scope->tenant_column && identity && identity->tenant) tenant = identity->tenant;
    // One query per table and tenant: each subscriber's own view (rule, claims, filter,
    // columns) is applied to its rows here. After its first rows, a query takes late
    // joiners while it keeps its log.
    std::string key = table + '\0' + (tenant ? "t" + *tenant : std::string("-"));
    for (auto &[job_id, job] : jobs_) {
        if (job.share_key != key) continue;
        bool late = job.rows_seen;
        if (late && !can_join_late(job)) continue;
        entry->snapshot_job = job_id;
        auto listed = std::find_if(job.subscribers.begin(), job.subscribers.end(), [&](const Subscriber &sub) {
            return sub.serial == s.serial() && sub.id == id;  // the same id made again
        });
        if (late) {
            // The same id made again mid-way starts over from the first rows.
            if (listed != job.subscribers.end()) job.subscribers.erase(listed);
            Subscriber sub{s.serial(), id};
            sub.catching_up = true;
            sub.start_after = recent_.start_after(entry->live_after, *job.cut);
            job.subscribers.push_back(std::move(sub));
            count(&ops::Counters::snapshot_late_joins);
            feed(job, job.subscribers.back(), s);
            return;
        }
        if (listed == job.subscribers.end()) job.subscribers.push_back(Subscriber{s.serial(), id});
        if (!job.submitted && job.gather_until_ms == 0) {
            count(&ops::Counters::snapshot_waits);
            s.send_text(protocol::encode_snapshot_waiting(
                id, static_cast<uint64_t>(std::find(queued_.begin(), queued_.end(), job_id) - queued_.begin())));
        }
        return;
    }
    Job job;
    job.id = (next_job_++ << session::kShardBits) | shard_;
    entry->snapshot_job = job.id;
    job.table = table;
    job.share_key = std::move(key);
    job.tenant = tenant;
    job.subscribers.push_back(Subscriber{s.serial(), id});
    uint64_t job_id = job.id;
    if (gather_ms_ > 0 && wake_in_) {
        job.gather_until_ms = session::steady_now_ms() + gather_ms_;
        jobs_.emplace(job_id, std::move(job));
        gathering_.push_back(job_id);
        if (!gather_timer_set_) {
            gather_timer_set_ = true;
            wake_in_(gather_ms_);
        }
        return;
    }
    jobs_.emplace(job_id, std::move(job));
    queued_.push_back(job_id);
    admit();
    tell_waiting(jobs_.at(job_id));
}

void SnapshotCoordinator::on_gather_timer(int64_t now_ms) {
    gather_timer_set_ = false;
    std::vector<uint64_t> due;
    while (!gathering_.empty()) {
        auto it = jobs_.find(gathering_.front());
        if (it != jobs_.end() && it->second.gather_until_ms > now_ms) break;
        gathering_.pop_front();
        if (it == jobs_.end()) continue;
        it->second.gather_until_ms = 0;
        queued_.push_back(it->first);
        due.push_back(it->first);
    }
    admit();
    for (uint64_t id : due)
        if (auto it = jobs_.find(id); it != jobs_.end()) tell_waiting(it->second);
    if (!gathering_.empty() && wake_in_) {
        gather_timer_set_ = true;
        wake_in_(std::max<int64_t>(1, jobs_.at(gathering_.front()).gather_until_ms - now_ms));
    }
}

void SnapshotCoordinator::tell_waiting(const Job &job) {
    if (job.submitted) return;
    auto ahead = static_cast<uint64_t>(std::find(queued_.begin(), queued_.end(), job.id) - queued_.begin());
    for (const Subscriber &sub : job.subscribers) {
        session::Session *s = nullptr;
        if (waiting_entry(sub, job.id, &s) == nullptr) continue;
        count(&ops::Counters::snapshot_waits);
        s->send_text(protocol::encode_snapshot_waiting(sub.id, ahead));
    }
}

void SnapshotCoordinator::admit() {
    while (!queued_.empty() && running_ < reader_->max_queries()) {
        auto it = jobs_.find(queued_.front());
        queued_.pop_front();
        if (it == jobs_.end()) continue;
        submit(it->second);
    }
}

void SnapshotCoordinator::submit(Job &job) {
    SnapshotQuery q;
    q.job = job.id;
    auto dot = job.table.find('.');
    q.schema = job.table.substr(0, dot);
    q.table = job.table.substr(dot + 1);
    // The columns and tenant column come from the config the snapshot sees (the reader).
    q.tenant = job.tenant;
    // A hint, by the config held now: the rows are judged by the snapshot's own, and an
    // audience whose encoding the reader did not prepare is encoded here.
    for (const Subscriber &sub : job.subscribers) {
        session::Session *s = nullptr;
        Entry *e = waiting_entry(sub, job.id, &s);
        if (e == nullptr) continue;
        rules::Viewer v = viewer_of(*s, *e, job.table, live_.tables, live_.rules);
        if (!sees_whole(v, rules::visible_columns(v))) continue;
        (s->encoding() == protocol::Encoding::Msgpack ? q.whole_msgpack : q.whole_json) = true;
    }
    job.submitted = true;
    ++running_;
    count(&ops::Counters::snapshot_queries);
    reader_->submit(std::move(q));
}

session::SubscriptionEntry *SnapshotCoordinator::waiting_entry(const Subscriber &sub, uint64_t job,
                                                               session::Session **out) const {
    session::Session *s = sessions_.find_serial(sub.serial);
    if (s == nullptr || s->close_request()) return nullptr;
    Entry *e = s->find_subscription(sub.id);
    if (e == nullptr || e->snapshot != Entry::Snapshot::Rows || e->snapshot_job != job) return nullptr;
    *out = s;
    return e;
}

void SnapshotCoordinator::drop_gone(Job &job) {
    job.subscribers.erase(std::remove_if(job.subscribers.begin(), job.subscribers.end(),
                                         [&](const Subscriber &sub) {
                                             session::Session *s = nullptr;
                                             return waiting_entry(sub, job.id, &s) == nullptr;
                                         }),
                          job.subscribers.end());
}

void SnapshotCoordinator::release(uint64_t job_id) {
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    drop_log(it->second);
    if (it->second.submitted) {
        if (!it->second.query_done) --running_;
    } else {
        queued_.erase(std::remove(queued_.begin(), queued_.end(), job_id), queued_.end());
        gathering_.erase(std::remove(gathering_.begin(), gathering_.end(), job_id), gathering_.end());
    }
    jobs_.erase(it);
    admit();
}

void SnapshotCoordinator::on_event(SnapshotEvent &event) {
    auto it = jobs_.find(event.job);
    if (it == jobs_.end()) return;  // cancelled
    Job &job = it->second;
    drop_gone(job);
    switch (event.kind) {
        case SnapshotEvent::Kind::Started: {
            std::string error;
            auto xids = session::XidSnapshot::parse(event.snapshot_text, &error);
            if (!xids) {
                fail(job, error);
                return;
            }
            if (!event.config) {
                fail(job, "the snapshot came without its sync config");
                return;
            }
            job.cut = std::make_shared<const session::SnapshotCut>(session::SnapshotCut{std::move(*xids), event.wal_bound});
            job.config = std::move(event.config);
            job.commits_at_start = recent_.added();
            break;
        }
        case SnapshotEvent::Kind::Rows:
            if (!job.config) {
                fail(job, "snapshot rows before the snapshot started");
                return;
            }
            job.rows_seen = true;
            {
                auto rows = std::make_shared<Logged>();
                rows->pages = std::move(event.pages);
                rows->whole = std::move(event.whole);
                rows->whole_json = event.whole_json;
                rows->whole_msgpack = event.whole_msgpack;
                for (const std::string &page : rows->pages) rows->bytes += page.size();
                for (const protocol::SnapshotRowsBody &body : rows->whole) rows->bytes += body.bytes.size();
                rows->bytes += send_rows(job, *rows, nullptr);
                keep(job, std::move(rows));
            }
            break;
        case SnapshotEvent::Kind::End: finish(job); return;
        case SnapshotEvent::Kind::Failed: fail(job, event.error); return;
    }
    if (job.subscribers.empty()) {
        reader_->cancel(job.id);
        release(job.id);
        return;
    }
    if (event.kind == SnapshotEvent::Kind::Rows) maybe_more(job);
}

size_t SnapshotCoordinator::send_rows(Job &job, const Logged &event, const Subscriber *only) {
    // Judged by the config the snapshot saw (livesync.sync_config() in its transaction),
    // not by the one in force now: the rows are the database at the snapshot.
    const rules::ConfigVersion &config = *job.config;
    struct Audience {
        std::string key;  // encoding and view
        rules::Viewer viewer;
        std::optional<std::vector<std::string>> visible;
        protocol::Encoding encoding;
        std::vector<std::pair<session::Session *, const std::string *>> targets;
        // Every row is shown whole (sees_whole): its rows need no judging, and msgpack
        // clients get the row's bytes as Postgres packed them.
        bool whole = false;
        // Whole, and the reader thread encoded its rows already (event.whole).
        bool prepared = false;
        protocol::SnapshotRowsBody body;
    };
    std::map<std::string, Audience> audiences;
    auto add = [&](const Subscriber &sub) {
        session::Session *s = nullptr;
        Entry *e = waiting_entry(sub, job.id, &s);
        if (e == nullptr) return;
        rules::Viewer v = viewer_of(*s, *e, job.table, config.tables, config.rules);
        std::string key = std::string(1, static_cast<char>(s->encoding())) + rules::viewer_key(v);
        auto [at, added] = audiences.try_emplace(key);
        if (added) {
            Audience &a = at->second;
            a.key = key;
            a.viewer = v;
            a.visible = rules::visible_columns(v);
            a.encoding = s->encoding();
            a.body.encoding = a.encoding;
            a.whole = sees_whole(v, a.visible);
            a.prepared = a.whole && (a.encoding == protocol::Encoding::Msgpack ? event.whole_msgpack : event.whole_json);
            if (!a.prepared) a.body.bytes.reserve(kFrameBytes + (64u << 10));
        }
        at->second.targets.emplace_back(s, &sub.id);
    };
    if (only != nullptr) {
        add(*only);
    } else {
        for (const Subscriber &sub : job.subscribers)
            if (!sub.catching_up) add(sub);
    }
    // Rows read from Postgres are counted once, when the query's followers get them.
    bool first_time = only == nullptr;
    std::vector<Audience *> shown;     // encoded here, row by row
    std::vector<Audience *> prepared;  // framed from event.whole
    size_t cached = 0;
    size_t queued = 0;  // bytes of frames queued to sessions (the pacer's measure)
    auto framed_key = [](const Audience &a, const std::string &id) { return a.key + '\0' + id; };
    for (auto &entry : audiences) {
        Audience &a = entry.second;
        const rules::Viewer &v = a.viewer;
        // Default deny: without a table scope, rule or identity nothing is shown (the
        // subscription is ended by the config change that took its access away).
        if (!(v.table && v.rule && v.identity)) continue;
        // A late joiner of an audience and id that got this event before: the same frames.
        bool built = std::all_of(a.targets.begin(), a.targets.end(), [&](const auto &target) {
            return event.framed.count(framed_key(a, *target.second)) != 0;
        });
        if (built) {
            for (auto &[s, id] : a.targets)
                for (const auto &[frame, rows] : event.framed.at(framed_key(a, *id))) {
                    s->send(frame);
                    queued += frame->size();
                    count(&ops::Counters::snapshot_rows, rows);
                }
            continue;
        }
        for (auto &target : a.targets) event.framed[framed_key(a, *target.second)];
        (a.prepared ? prepared : shown).push_back(&a);
    }
    auto flush = [&](Audience &audience, const protocol::SnapshotRowsBody &body) {
        if (body.rows == 0) return;
        // One frame per distinct subscription id (clients mostly name theirs alike).
        std::map<std::string_view, protocol::Frame> frames;
        for (auto &[s, id] : audience.targets) {
            protocol::Frame &frame = frames[*id];
            if (!frame) {
                frame = protocol::encode_snapshot_rows(*id, body);
                event.framed[framed_key(audience, *id)].emplace_back(frame, body.rows);
                cached += frame->size();
            }
            s->send(frame);
            queued += frame->size();
        }
        count(&ops::Counters::snapshot_rows, uint64_t{body.rows} * audience.targets.size());
    };
    for (Audience *a : prepared)
        for (const protocol::SnapshotRowsBody &body : event.whole)
            if (body.encoding == a->encoding) flush(*a, body);
    if (shown.empty()) {
        if (first_time)
            for (const protocol::SnapshotRowsBody &body : event.whole)
                if (body.encoding == event.whole.front().encoding) job.rows += body.rows;
    } else {
        common::Change change;  // decoded once per row, its storage reused row after row
        change.op = common::Op::Insert;
        std::string_view raw;
        for (const std::string &page : event.pages) {
            common::PageRows rows(page);
            std::string error;
            while (rows.next(change.new_values, raw, &error)) {
                if (first_time) ++job.rows;
                if (change.new_values.empty()) continue;
                for (Audience *a : shown) {
                    if (a->whole) {
                        if (a->encoding == protocol::Encoding::Msgpack) a->body.add_raw(raw);
                        else a->body.add(change.new_values);
                    } else {
                        if (rules::classify(change, a->viewer, a->visible) != rules::Shown::Insert)
                            continue;
                        if (a->visible)
                            a->body.add(
                                rules::project(change, rules::Shown::Insert, a->visible).new_values);
                        else
                            a->body.add(change.new_values);
                    }
                    if (a->body.bytes.size() >= kFrameBytes) {
                        flush(*a, a->body);
                        a->body.bytes.clear();
                        a->body.rows = 0;
                    }
                }
            }
            if (!error.empty() && first_time)
                ops::error("bad snapshot page: rest of it skipped", {{"table", job.table}, {"error", error}});
        }
        for (Audience *a : shown) flush(*a, a->body);
    }
    pacer_.on_sent(queued, now_us_());
    return cached;
}

void SnapshotCoordinator::maybe_more(Job &job) {
    if (job.query_done) return;
    // Past the budget, the query reads on once the late joiners have its log.
    if (!job.joinable && catching_up(job)) {
        job.waiting_for_drain = true;
        return;
    }
    for (const Subscriber &sub : job.subscribers) {
        if (sub.catching_up) continue;
        session::Session *s = sessions_.find_serial(sub.serial);
        if (s && !s->close_request() && s->queue().bytes() >= low_water_bytes_) {
            job.waiting_for_drain = true;
            return;
        }
    }
    job.waiting_for_drain = false;
    if (!paced(&job.read_waits_for_pace)) return;
    reader_->more(job.id);
}

bool SnapshotCoordinator::paced(bool *waits) {
    int64_t wait = pacer_.wait_us(now_us_());
    if (wait == 0) return true;
    *waits = true;
    count(&ops::Counters::snapshot_pace_waits);
    if (!pace_timer_set_ && pace_wake_in_) {
        pace_timer_set_ = true;
        pace_wake_in_(wait);
    }
    return false;
}

void SnapshotCoordinator::record_live_delay(int64_t delay_us) {
    if (pacer_.on_live(delay_us, now_us_())) count(&ops::Counters::snapshot_yields);
}

void SnapshotCoordinator::on_pace_timer() {
    pace_timer_set_ = false;
    std::vector<uint64_t> ids;
    for (const auto &[id, job] : jobs_)
        if (job.read_waits_for_pace || job.feed_waits_for_pace) ids.push_back(id);
    for (uint64_t id : ids) {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) continue;
        Job &job = it->second;
        bool read = job.read_waits_for_pace;
        bool released = false;
        if (job.feed_waits_for_pace) {
            // Late joiners first: the query may be waiting for them.
            job.feed_waits_for_pace = false;
            for (size_t i = 0; i < job.subscribers.size() && !released; ++i) {
                if (!job.subscribers[i].catching_up) continue;
                session::Session *s = sessions_.find_serial(job.subscribers[i].serial);
                if (s != nullptr && !s->close_request()) released = !feed(job, job.subscribers[i], *s);
            }
        }
        if (released || !read) continue;
        job.read_waits_for_pace = false;
        maybe_more(job);
    }
}

void SnapshotCoordinator::on_drained(session::Session &s) {
    if (jobs_.empty() || s.queue().bytes() >= low_water_bytes_) return;
    std::vector<uint64_t> ids;
    for (const auto &[id, job] : jobs_)
        for (const Subscriber &sub : job.subscribers)
            if (sub.serial == s.serial()) {
                ids.push_back(id);
                break;
            }
    for (uint64_t id : ids) {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) continue;
        Job &job = it->second;
        bool released = false;
        for (size_t i = 0; i < job.subscribers.size() && !released; ++i)
            if (job.subscribers[i].serial == s.serial() && job.subscribers[i].catching_up)
                released = !feed(job, job.subscribers[i], s);
        if (!released && job.waiting_for_drain) maybe_more(job);
    }
}

void SnapshotCoordinator::finish_one(Job &job, const Subscriber &sub) {
    session::Session *s = nullptr;
    Entry *e = waiting_entry(sub, job.id, &s);
    if (e == nullptr || !job.cut) return;
    e->snapshot = Entry::Snapshot::Ready;
    e->cut = job.cut;
    // live_after is still the subscribe position; a late joiner's start was taken when it
    // joined.
    e->snapshot_start_after = sub.start_after ? *sub.start_after : recent_.start_after(e->live_after, *job.cut);
    s->send_text(protocol::encode_snapshot_end(sub.id, job.cut->wal_bound));
    resume(*s);
    ++job.served;
    count(&ops::Counters::snapshot_subscriptions);
}

void SnapshotCoordinator::finish(Job &job) {
    size_t late = 0;
    for (const Subscriber &sub : job.subscribers) {
        if (sub.catching_up)
            ++late;
        else
            finish_one(job, sub);
    }
    // One line per query, not per client: how much sharing and pacing did.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - job.started);
    ops::info("snapshot sent", {{"table", job.table},
                                {"rows", job.rows},
                                {"subscribers", static_cast<uint64_t>(job.served)},
                                {"still_catching_up", static_cast<uint64_t>(late)},
                                {"ms", static_cast<uint64_t>(ms.count())}});
    if (late == 0) {
        release(job.id);
        return;
    }
    // The query is done and its slot free; the late ones finish from the log.
    job.query_done = true;
    job.joinable = false;
    --running_;
    admit();
}

void SnapshotCoordinator::fail(Job &job, const std::string &error) {
    ops::warn("snapshot failed", {{"table", job.table}, {"error", error}});
    count(&ops::Counters::snapshot_failures);
    for (const Subscriber &sub : job.subscribers) {
        session::Session *s = nullptr;
        Entry *e = waiting_entry(sub, job.id, &s);
        if (e == nullptr) continue;
        // The subscription is gone, nothing else of the session: the client may subscribe
        // again with the same id.
        auto table = s->remove_subscription(sub.id);
        if (table && !s->subs_by_table().count(*table)) sessions_.unindex_table(*s, *table);
        s->send_error("snapshot_failed", "cannot read the snapshot: " + error + "; subscribe again to retry", sub.id);
        resume(*s);
    }
    release(job.id);
}

void SnapshotCoordinator::cancel_abandoned() {
    std::vector<uint64_t> ids;
    for (const auto &[id, job] : jobs_) ids.push_back(id);
    for (uint64_t id : ids) {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) continue;
        Job &job = it->second;
        drop_gone(job);
        if (job.subscribers.empty()) {
            if (job.submitted && !job.query_done && reader_) reader_->cancel(id);
            release(id);
            continue;
        }
        // Late joiners that left may have held the log or the query.
        if (job.rows_seen) settle(job);
    }
}

void SnapshotCoordinator::subscriptions_changed(session::Session *s) {
    if (!jobs_.empty()) cancel_abandoned();
    if (s && s->replay.active && !s->has_snapshot(Entry::Snapshot::Rows)) replay_.resume_paging(*s);
}

void SnapshotCoordinator::tick() {
    cancel_abandoned();
    sessions_.for_each([&](session::Session &s) {
        if (!s.snapshot_filters()) return;
        uint64_t position = s.replay.active ? s.replay.through.lsn : live_.position;
        common::StreamId through = s.replay.active ? s.replay.through : live_.last_id;
        s.refresh_snapshot_filters(position, through);
        // A Ready subscription whose session stopped replaying (resync_required) still goes
        // live through its rewind.
        if (!s.replay.active && s.has_snapshot(Entry::Snapshot::Ready)) resume(s);
        // An ended snapshot subscription no longer holds the session.
        if (s.replay.active && !s.replay.page_outstanding && !s.has_snapshot(Entry::Snapshot::Rows))
            replay_.resume_paging(s);
    });
}

}  // namespace livesync::snapshot
