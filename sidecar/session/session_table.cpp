#include "sidecar/session/session_table.hpp"

namespace livesync::session {

Session &SessionTable::open(struct lws *wsi, std::string address, int64_t connected_at_ms,
                            size_t max_queue_bytes, std::function<void()> wake) {
    uint64_t serial = (next_serial_++ << kShardBits) | shard_;
    auto s = std::make_unique<Session>(serial, wsi, std::move(address), connected_at_ms, max_queue_bytes,
                                       std::move(wake));
    Session &ref = *s;
    sessions_.emplace(serial, std::move(s));
    if (directory_) directory_->opened();
    return ref;
}

void SessionTable::close(Session &s) {
    for (const auto &[table, subs] : s.subs_by_table()) unindex_table(s, table);
    if (s.greeted()) {
        auto it = by_client_.find(s.client_id());
        if (it != by_client_.end() && it->second == &s) by_client_.erase(it);
        if (directory_) directory_->release(s.client_id(), s.serial());
    }
    if (directory_ && sessions_.count(s.serial())) directory_->closed();
    sessions_.erase(s.serial());
}

Session *SessionTable::bind_client(Session &s) {
    Session *&slot = by_client_[s.client_id()];
    Session *previous = slot == &s ? nullptr : slot;
    slot = &s;
    if (!directory_) return previous;
    uint64_t held_by = directory_->bind(s.client_id(), s.serial());
    if (held_by != 0 && shard_of_serial(held_by) != shard_ && close_elsewhere_) close_elsewhere_(held_by);
    return previous;
}

bool SessionTable::holds_client(const Session &s) const {
    if (!s.greeted()) return false;
    if (directory_) return directory_->holds(s.client_id(), s.serial());
    auto it = by_client_.find(s.client_id());
    return it != by_client_.end() && it->second == &s;
}

Session *SessionTable::find_client(const std::string &client_id) const {
    auto it = by_client_.find(client_id);
    if (it == by_client_.end()) return nullptr;
    // Another thread's session may hold the id since.
    if (directory_ && !directory_->holds(client_id, it->second->serial())) return nullptr;
    return it->second;
}

bool SessionTable::client_connected(const std::string &client_id) const {
    if (directory_) return directory_->find(client_id) != 0;
    return by_client_.count(client_id) != 0;
}

Session *SessionTable::find_serial(uint64_t serial) const {
    auto it = sessions_.find(serial);
    return it == sessions_.end() ? nullptr : it->second.get();
}

void SessionTable::index_table(Session &s, const std::string &table) { by_table_[table].insert(&s); }

void SessionTable::unindex_table(Session &s, const std::string &table) {
    auto it = by_table_.find(table);
    if (it == by_table_.end()) return;
    it->second.erase(&s);
    if (it->second.empty()) by_table_.erase(it);
}

const std::unordered_set<Session *> *SessionTable::subscribers(const std::string &table) const {
    auto it = by_table_.find(table);
    return it == by_table_.end() ? nullptr : &it->second;
}

}  // namespace livesync::session
