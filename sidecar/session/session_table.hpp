// All sessions of this process, owned here (RAII: a session lives from the WebSocket's
// ESTABLISHED to its CLOSED callback), with the two indexes the lws thread needs:
// client id → session (for /v1/clients/{id}) and table → subscribed sessions (so a
// transaction only visits the sessions that can match it).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "sidecar/session/session.hpp"

namespace livesync::session {

class SessionTable {
public:
    Session &open(struct lws *wsi, std::string address, int64_t connected_at_ms, size_t max_queue_bytes,
                  std::function<void()> wake);
    // Forgets the session and every index entry of it.
    void close(Session &s);

    // Makes s the holder of its client id; returns the session that held it before.
    Session *bind_client(Session &s);
    // True when s holds its client id (a newer session with the same id may hold it).
    bool holds_client(const Session &s) const;
    Session *find_client(const std::string &client_id) const;
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
    uint64_t next_serial_ = 1;
    std::map<uint64_t, std::unique_ptr<Session>> sessions_;
    std::unordered_map<std::string, Session *> by_client_;
    std::unordered_map<std::string, std::unordered_set<Session *>> by_table_;
};

}  // namespace livesync::session
