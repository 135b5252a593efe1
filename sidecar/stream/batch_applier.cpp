#include "sidecar/stream/batch_applier.hpp"

#include <algorithm>

#include "sidecar/ops/log.hpp"
#include "sidecar/stream/fanout.hpp"

namespace livesync::stream {

void fan_out(const common::Transaction &txn, session::SessionTable &sessions, ops::Counters &counters) {
    // Only sessions subscribed to one of the transaction's tables can match.
    std::vector<session::Session *> candidates;
    for (const common::Change &c : txn.changes)
        for (const std::string &table : change_tables(c))
            if (const auto *subs = sessions.subscribers(table))
                candidates.insert(candidates.end(), subs->begin(), subs->end());
    if (candidates.empty()) return;
    std::sort(candidates.begin(), candidates.end(),
              [](const session::Session *a, const session::Session *b) { return a->serial() < b->serial(); });
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());

    std::vector<FanoutTarget> targets;
    targets.reserve(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) targets.push_back(FanoutTarget{i, &candidates[i]->subs_by_table()});

    for (const PlannedFrame &planned : plan_fanout(txn, targets)) {
        counters.frames_built.fetch_add(1);
        for (size_t key : planned.targets) {
            session::Session &s = *candidates[key];
            switch (s.send(planned.frame)) {
                case session::Session::SendResult::Queued: counters.frames_queued.fetch_add(1); break;
                case session::Session::SendResult::Overflow:
                    counters.send_queue_overflows.fetch_add(1);
                    ops::warn("session closed: send queue overflow",
                              {{"client_id", s.greeted() ? s.client_id() : std::string()},
                               {"address", s.address()}});
                    break;
                case session::Session::SendResult::Closing: break;
            }
        }
    }
}

void apply_event(StreamEvent &event, LiveState &live, session::SessionTable &sessions, ops::Counters &counters) {
    if (auto *reset = std::get_if<StreamReset>(&event)) {
        live.tables = std::move(reset->tables);
        live.position = std::max(live.position, reset->tail.lsn);
        live.ready = true;
        return;
    }
    auto &batch = std::get<StreamBatch>(event);
    for (const common::Transaction &txn : batch.batch.transactions) {
        for (const common::Change &c : txn.changes)
            if (PublishedTables::is_config_change(c)) live.tables.apply(c);
        fan_out(txn, sessions, counters);
        live.position = std::max(live.position, txn.lsn);
    }
}

}  // namespace livesync::stream
