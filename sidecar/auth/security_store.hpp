// The security layer's Redis side, on a thread of its own (the lws thread never waits
// on Redis): client-id ownership ("<prefix>client_owner:<id>" = client_owner(), claimed atomically by a
// Lua script, which also hands the id to the new session: see ClaimResult), shared
// bans ("<prefix>ban:<address>" with a TTL, indexed by the sorted set "<prefix>bans" so
// every sidecar can refresh its ban cache each second without a SCAN), per-user
// activity ("<prefix>activity:<owner>" hashes, indexed by "<prefix>activity" scored by
// last-seen ms), and writes to the control stream.
// Answers go back through `deliver` (the server queues them and wakes its loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/redis_url.hpp"
#include "sidecar/auth/ownership.hpp"
#include "sidecar/redis/redis_worker.hpp"

namespace livesync::sidecar::auth {

enum class ClaimOutcome { Owned, Foreign, Unavailable };

// Whether the session `serial` may use client_id (its owner claimed or refreshed it).
// An Owned claim also makes the session the id's holder, in the same script: it gets
// the next generation (higher than any generation of the id before, on any sidecar;
// "<prefix>client_generation", at least Redis's clock in µs so a Redis that lost its
// data still counts upwards), "<prefix>client_holder:<id>" names this sidecar and that
// generation, and when another sidecar held the id (holder key or registry entry) a
// control entry {kind=replace, client_id, generation, holder} is added, so that sidecar
// closes its older session (admin/client_handover.hpp).
struct ClaimResult {
    uint64_t serial = 0;
    std::string client_id;
    ClaimOutcome outcome = ClaimOutcome::Unavailable;
    uint64_t generation = 0;       // Owned: this session's generation of the id
    std::string replaced_sidecar;  // Owned: the other sidecar told to close its session, or empty
};

// Every ban in force, as Redis holds it: address → until (unix ms).
struct BanList {
    std::map<std::string, int64_t> until_ms;
};

// An answer to an admin HTTP request that needed Redis (ticket names the request).
struct AdminAnswer {
    uint64_t ticket = 0;
    unsigned status = 200;
    std::string body;
};

using StoreResult = std::variant<ClaimResult, BanList, AdminAnswer>;

// One owner's activity since the last flush (counters are added up in Redis).
struct ActivityDelta {
    std::string owner;  // client_owner(): the user in its tenant, or "anonymous:<address>"
    std::string user;   // owner_key(), as the report shows it: "sub:<sub>" or "anonymous:<address>"
    std::string tenant;
    uint64_t sessions = 0;
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    int64_t last_seen_ms = 0;
};

struct StoreConfig {
    common::RedisUrl url;
    std::string prefix;
    std::string sidecar_id;
    int owner_ttl_seconds = 604800;  // a client id stays bound for a week after its last hello
    int activity_ttl_seconds = 30 * 86400;
    std::chrono::milliseconds ban_refresh{1000};
    size_t max_pending = 10000;  // tasks waiting for Redis; more: refused (claims answer Unavailable)
};

// Renders the activity report body from owner → hash fields (pure; unit-tested).
std::string render_activity(int64_t since_unix, const std::vector<std::pair<std::string, std::map<std::string, std::string>>> &owners);

class SecurityStore final : public OwnershipClaims {
public:
    SecurityStore(StoreConfig config, std::function<void(StoreResult)> deliver);
    ~SecurityStore() override;
    SecurityStore(const SecurityStore &) = delete;
    SecurityStore &operator=(const SecurityStore &) = delete;

    void start();
    void stop();

    // Thread-safe. Each answers through deliver (claim: ClaimResult; activity_report:
    // AdminAnswer); the others are fire-and-forget. False when the queue is full.
    bool claim(uint64_t serial, std::string client_id, std::string owner) override;
    bool ban(std::string address, int64_t until_ms, std::string reason);
    bool unban(std::string address);
    bool publish_control(std::vector<std::pair<std::string, std::string>> fields);
    bool add_activity(std::vector<ActivityDelta> deltas);
    bool activity_report(uint64_t ticket, int64_t since_unix);

private:
    // A task returns false when the connection failed under it; conn is nullptr while
    // Redis is unreachable (the task then answers "unavailable").
    using Task = std::function<bool(redis::Connection *conn)>;
    bool enqueue(Task task);
    void run();

    StoreConfig config_;
    std::function<void(StoreResult)> deliver_;
    // Tasks wait in its inbox (max_pending); last: stopped before the members its thread uses.
    redis::RedisInboxWorker<redis::BoundedInbox<Task>> worker_;
};

}  // namespace livesync::sidecar::auth
