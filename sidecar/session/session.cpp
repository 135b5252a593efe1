#include "sidecar/session/session.hpp"

#include <algorithm>
#include <chrono>

#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"

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
                               std::shared_ptr<const sidecar::auth::SubscriptionScope> scope) {
    table_of_[id] = table;
    auto &subs = subs_by_table_[table];
    auto at = std::lower_bound(subs.begin(), subs.end(), id,
                               [](const SubscriptionEntry &e, const std::string &k) { return e.id < k; });
    subs.insert(at, SubscriptionEntry{id, live_after, std::move(scope)});
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
    for (auto &[table, subs] : subs_by_table_)
        for (SubscriptionEntry &e : subs) e.live_after = lsn;
}

std::vector<std::string> Session::subscribed_tables() const {
    std::vector<std::string> tables;
    for (const auto &[table, subs] : subs_by_table_) tables.push_back(protocol::display_key(table));
    return tables;
}

Session::SendResult Session::send(net::Frame frame) {
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
            send(net::make_frame(*packed));
            return;
        }
    }
    send(net::make_frame(json));
}

void Session::request_close(uint16_t code, std::string reason) {
    if (close_) return;
    queue_.clear();
    close_ = CloseRequest{code, std::move(reason)};
    wake_();
}

}  // namespace livesync::session
