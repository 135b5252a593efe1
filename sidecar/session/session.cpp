#include "sidecar/session/session.hpp"

#include <algorithm>
#include <chrono>

#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"
#include "sidecar/protocol/server_frame.hpp"

namespace livesync::session {

int64_t steady_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

Session::Session(uint64_t serial, struct lws *wsi, std::string address, int64_t connected_at_ms,
                 size_t max_queue_bytes, std::function<void()> wake)
    : serial_(serial), wsi_(wsi), address_(std::move(address)), connected_at_ms_(connected_at_ms),
      queue_(max_queue_bytes), wake_(std::move(wake)) {}

void Session::add_subscription(const std::string &id, const std::string &table, uint64_t live_after,
                               std::shared_ptr<const rules::SubscriptionScope> scope) {
    table_of_[id] = table;
    auto &subs = subs_by_table_[table];
    auto at = std::lower_bound(subs.begin(), subs.end(), id,
                               [](const SubscriptionEntry &e, const std::string &k) { return e.id < k; });
    SubscriptionEntry entry;
    entry.id = id;
    entry.live_after = live_after;
    entry.scope = std::move(scope);
    subs.insert(at, std::move(entry));
}

std::optional<std::string> Session::remove_subscription(const std::string &id) {
    auto it = table_of_.find(id);
    if (it == table_of_.end()) return std::nullopt;
    std::string table = it->second;
    table_of_.erase(it);
    auto &subs = subs_by_table_[table];
    subs.erase(std::remove_if(subs.begin(), subs.end(), [&](const SubscriptionEntry &e) { return e.id == id; }),
               subs.end());
    if (subs.empty()) subs_by_table_.erase(table);
    return table;
}

void Session::set_live_after_all(uint64_t lsn) {
    // A subscription still sending its snapshot keeps its place: it goes live from its own
    // snapshot. The others restart from lsn, unfiltered.
    for (auto &[table, subs] : subs_by_table_)
        for (SubscriptionEntry &e : subs) {
            if (e.snapshot != SubscriptionEntry::Snapshot::None) continue;
            e.live_after = lsn;
            e.cut.reset();
            e.skip_through = common::StreamId{};
        }
}

SubscriptionEntry *Session::find_subscription(const std::string &id) {
    auto it = table_of_.find(id);
    if (it == table_of_.end()) return nullptr;
    for (SubscriptionEntry &e : subs_by_table_[it->second])
        if (e.id == id) return &e;
    return nullptr;
}

const SubsByTable &Session::subs_for(const common::Transaction &txn, common::StreamId entry,
                                     SubsByTable &scratch) const {
    if (!snapshot_filters_) return subs_by_table_;
    scratch.clear();
    for (const auto &[table, subs] : subs_by_table_) {
        std::vector<SubscriptionEntry> kept;
        for (const SubscriptionEntry &e : subs) {
            if (e.snapshot != SubscriptionEntry::Snapshot::None) continue;
            if (entry <= e.skip_through) continue;
            if (e.cut && txn.lsn <= e.cut->wal_bound && e.cut->contains(txn.xid)) continue;
            kept.push_back(e);
        }
        if (!kept.empty()) scratch.emplace(table, std::move(kept));
    }
    return scratch;
}

bool Session::has_snapshot(SubscriptionEntry::Snapshot state) const {
    if (!snapshot_filters_) return false;
    for (const auto &[table, subs] : subs_by_table_)
        for (const SubscriptionEntry &e : subs)
            if (e.snapshot == state) return true;
    return false;
}

void Session::refresh_snapshot_filters(uint64_t position, common::StreamId through) {
    if (!snapshot_filters_) return;
    bool any = false;
    for (auto &[table, subs] : subs_by_table_)
        for (SubscriptionEntry &e : subs) {
            if (e.cut && e.cut->wal_bound < position) e.cut.reset();
            if (e.skip_through <= through) e.skip_through = common::StreamId{};
            any = any || e.snapshot != SubscriptionEntry::Snapshot::None || e.cut ||
                  !(e.skip_through == common::StreamId{});
        }
    snapshot_filters_ = any;
}

std::vector<std::string> Session::subscribed_tables() const {
    std::vector<std::string> tables;
    for (const auto &[table, subs] : subs_by_table_) tables.push_back(protocol::display_key(table));
    return tables;
}

Session::SendResult Session::send(protocol::Frame frame) {
    if (close_) return SendResult::Closing;
    if (!queue_.push(std::move(frame))) {
        request_close(1008, std::string(kOverflowReason));
        return SendResult::Overflow;
    }
    ++messages_out;
    if (queue_.size() == 1) {
        queue_progress_ms = steady_now_ms();
        wake_();
    }
    return SendResult::Queued;
}

void Session::send_text(std::string_view json) {
    if (encoding_ == protocol::Encoding::Msgpack) {
        if (auto packed = protocol::json_to_msgpack(json)) {
            send(protocol::make_frame(*packed));
            return;
        }
    }
    send(protocol::make_frame(json));
}

void Session::send_error(std::string_view code, std::string_view message, const std::optional<std::string> &id) {
    std::string json = protocol::encode_error(code, message, id);
    if (encoding_ == protocol::Encoding::Msgpack) {
        if (auto packed = protocol::json_to_msgpack(json)) {
            send(protocol::make_frame(*packed, code));
            return;
        }
    }
    send(protocol::make_frame(json, code));
}

void Session::request_close(uint16_t code, std::string reason) {
    if (close_) return;
    queue_.clear();
    close_ = CloseRequest{code, std::move(reason)};
    wake_();
}

}  // namespace livesync::session
