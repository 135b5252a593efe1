// The sessions of one service thread, owned here (RAII: a session lives from the
// WebSocket's ESTABLISHED to its CLOSED callback), with the indexes that thread needs:
// client id → session and table → subscribed sessions (so a transaction only visits the
// sessions that can match it). With a ClientDirectory (every service thread shares one)
// client ids are held across threads: the directory says who holds an id, and a holder
// on another thread is closed there (close_elsewhere).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "sidecar/session/client_directory.hpp"
#include "sidecar/session/session.hpp"

namespace livesync::session {

class SessionTable {
public:
    SessionTable() = default;
    // shard: this service thread's index (< kMaxShards), in the low bits of every serial.
    // close_elsewhere: closes the session with this serial, held on another thread, that a
    // newer session of its client id replaced here (called on this thread).
    SessionTable(unsigned shard, ClientDirectory *directory, std::function<void(uint64_t serial)> close_elsewhere)
        : shard_(shard), directory_(directory), close_elsewhere_(std::move(close_elsewhere)) {}

    Session &open(struct lws *wsi, std::string address, int64_t connected_at_ms, size_t max_queue_bytes,
                  std::function<void()> wake);
    // Forgets the session and every index entry of it.
    void close(Session &s);

    // Makes s the holder of its client id; returns the session of this thread that held it
    // before (one on another thread is handed to close_elsewhere).
    Session *bind_client(Session &s);
    // True when s holds its client id (a newer session with the same id may hold it).
    bool holds_client(const Session &s) const;
    // The session of this thread holding client_id.
    Session *find_client(const std::string &client_id) const;
    // True when a session on any service thread holds client_id.
    bool client_connected(const std::string &client_id) const;
    // Open sessions on every service thread.
    size_t open_everywhere() const { return directory_ ? directory_->open_sessions() : sessions_.size(); }
    unsigned shard() const { return shard_; }
    // The session with this serial, if it is still open.
    Session *find_serial(uint64_t serial) const;

    void index_table(Session &s, const std::string &table);
    // Call after the session's last subscription on table is gone.
    void unindex_table(Session &s, const std::string &table);
    // Sessions with at least one subscription on table, or nullptr.
    const std::unordered_set<Session *> *subscribers(const std::string &table) const;

    size_t size() const { return sessions_.size(); }
    template <class F>
    void for_each(F &&f) {
        for (auto &[serial, s] : sessions_) f(*s);
    }

private:
    unsigned shard_ = 0;
    ClientDirectory *directory_ = nullptr;
    std::function<void(uint64_t)> close_elsewhere_;
    uint64_t next_serial_ = 1;
    std::map<uint64_t, std::unique_ptr<Session>> sessions_;
    std::unordered_map<std::string, Session *> by_client_;
    std::unordered_map<std::string, std::unordered_set<Session *>> by_table_;
};

}  // namespace livesync::session
