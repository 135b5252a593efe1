// Applies one client message (JSON or msgpack, per the session's encoding) to its
// session: parse at the protocol edge, then hello / subscribe / unsubscribe / ping
// against the session table, the live stream state and the registry. Runs on the lws
// thread; replies are queued, never written.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sidecar/session/gatekeeper.hpp"
#include "sidecar/auth/ownership.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/registry/registry_writer.hpp"
#include "sidecar/session/resumer.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/session/snapshot_starter.hpp"
#include "sidecar/rules/live_state.hpp"

namespace livesync::session {

inline constexpr size_t kMaxSubscriptionsPerSession = 256;

// Close code for a session whose client id connected again, on this sidecar or
// another (newest session wins).
inline constexpr uint16_t kCloseReplaced = 4409;
inline constexpr const char *kReplacedReason = "client_id connected again";

class FrameHandler {
public:
    // gate authenticates and authorizes every session (sidecar/auth).
    FrameHandler(std::string sidecar_id, SessionTable &sessions, const rules::LiveState &live,
                 registry::RegistrySink &registry, session::Gatekeeper &gate);

    // Where hello with last_lsn hands the session for replay (without one, such a hello
    // is refused with resume_unavailable).
    void set_resumer(Resumer *resumer) { resumer_ = resumer; }

    // Where a subscribe with "snapshot": true goes; without one it is refused with
    // snapshot_unavailable.
    void set_snapshots(SnapshotStarter *snapshots) { snapshots_ = snapshots; }

    // Where hello sends its client-id ownership check; without one (unit tests of
    // other parts) every client id is taken as owned.
    void set_ownership(sidecar::auth::OwnershipClaims *ownership) { ownership_ = ownership; }

    void on_text(Session &s, std::string_view text);
    // The ownership check of the session `serial`'s hello is settled: finish the hello
    // (welcome, subscriptions, resume), close 4403, or answer not_ready; then apply the
    // messages held meanwhile.
    void on_claim(uint64_t serial, const std::string &client_id, sidecar::auth::ClaimOutcome outcome);
    // The connection is gone: unregister (if s still holds its client id) and forget it.
    void on_closed(Session &s);
    // After a sync config change in the stream (revoke, unpublish, TRUNCATE of the
    // config tables): every subscription whose table is no longer published, or whose
    // session's role has no rule on it any more, ends with an `unsubscribed` frame that
    // says why (reason unknown_table / forbidden: what a subscribe would get now).
    // Nothing of its table reached it since the change (fan-out reads the same rules);
    // this tells the client instead of leaving it silent. Returns how many ended.
    size_t end_lost_subscriptions();
    // The same for one session, by a given config version (a replayed transaction's).
    size_t end_lost_subscriptions(Session &s, const rules::PublishedTables &tables,
                                  const rules::RuleSet &rules);

private:
    void apply(Session &s, std::string_view text);
    void hello(Session &s, const protocol::Hello &hello);
    void finish_hello(Session &s, const protocol::Hello &hello, std::string client_id);
    // live_after: the subscription gets transactions with commit LSN above it.
    void subscribe(Session &s, const protocol::Subscribe &sub, uint64_t live_after);
    void unsubscribe(Session &s, const protocol::Unsubscribe &unsub);
    void publish_record(const Session &s);
    std::string random_client_id();

    std::string sidecar_id_;
    SessionTable &sessions_;
    const rules::LiveState &live_;
    registry::RegistrySink &registry_;
    std::mt19937_64 rng_;
    session::Gatekeeper &gate_;
    Resumer *resumer_ = nullptr;
    SnapshotStarter *snapshots_ = nullptr;
    sidecar::auth::OwnershipClaims *ownership_ = nullptr;
    std::unordered_map<uint64_t, protocol::Hello> pending_hellos_;  // session serial → hello being checked
};

// Messages a client may send while its hello is being checked; more closes it 1008.
inline constexpr size_t kMaxHeldMessages = 64;
inline constexpr size_t kMaxHeldBytes = 1u << 20;

}  // namespace livesync::session
