// The registry thread: owns its own hiredis connection and applies the client updates
// the lws thread hands it. Updates are coalesced per client id (a client's newest
// state is all that matters) in a bounded map; the writer keeps a mirror of what this
// sidecar holds, re-writes all of it after every (re)connect, refreshes the sidecar
// heartbeat every 5 s, and deletes everything of this sidecar on stop(). Writes and
// deletes of a client's hash are conditional on its generation (client_record.hpp), so
// a session replaced from another sidecar never overwrites or deletes the new entry.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/redis_url.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/redis/redis_worker.hpp"
#include "sidecar/registry/client_record.hpp"

namespace livesync::registry {

// What the lws thread calls; implemented by RegistryWriter (and fakes in tests).
class RegistrySink {
public:
    virtual ~RegistrySink() = default;
    virtual void upsert(ClientRecord record) = 0;
    // The session of this generation (ClientRecord::generation) that held client_id ended.
    virtual void remove(const std::string &client_id, uint64_t generation) = 0;
};

struct RegistryConfig {
    common::RedisUrl url;
    Keys keys;
    std::string advertise_url;  // for the heartbeat's url (DaemonOptions::advertise_url)
    std::string presence_token;  // for the heartbeat (DaemonOptions::presence_token)
    int64_t started_at_ms = 0;
    std::chrono::seconds heartbeat_every{5};
    std::chrono::seconds heartbeat_ttl{15};
    size_t max_pending = 65536;
};

class RegistryWriter final : public RegistrySink {
public:
    RegistryWriter(RegistryConfig config, ops::Counters &counters);
    ~RegistryWriter() override;

    void start();
    // Applies what is pending, deletes this sidecar's entries and joins the thread.
    void stop();

    void upsert(ClientRecord record) override;
    void remove(const std::string &client_id, uint64_t generation) override;

private:
    // A client's newest state: its record, or its removal (generation: of the session that ended).
    struct Update {
        std::optional<ClientRecord> record;
        uint64_t generation = 0;
    };
    using Inbox = redis::CoalescingInbox<std::string, Update>;
    void run();
    void enqueue(const std::string &client_id, Update update);

    RegistryConfig config_;
    ops::Counters &counters_;
    // Set by every new connection (worker thread only): rewrite everything, heartbeat now.
    bool resync_ = true;
    redis::Clock::time_point next_heartbeat_ = redis::Clock::now();
    // Updates wait in its inbox, coalesced per client id (max_pending ids); last:
    // stopped before the members its thread uses.
    redis::RedisInboxWorker<Inbox> worker_;
};

}  // namespace livesync::registry
