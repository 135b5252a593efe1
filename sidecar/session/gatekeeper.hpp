// The security layer of a session, on the lws thread: authentication at connect (a
// token in the Authorization header or ?token=) or at hello (a token field, or
// anonymous when allowed), token refresh ({"type":"auth"}), the subscribe-time rule
// check, and the sweep that closes sessions whose token expired or that never said
// hello. Every refusal is audited. Close codes: 4401 unauthenticated, 4403 forbidden.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "sidecar/auth/abuse_guard.hpp"
#include "sidecar/rules/access.hpp"
#include "sidecar/auth/audit.hpp"
#include "sidecar/auth/authenticator.hpp"
#include "sidecar/auth/security_store.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/rules/live_state.hpp"

namespace livesync::session {

inline constexpr uint16_t kCloseUnauthorized = 4401;
inline constexpr uint16_t kCloseForbidden = 4403;
inline constexpr uint16_t kCloseRateLimited = 4429;
inline constexpr const char *kClientIdTakenReason = "client id belongs to another user";

class Gatekeeper {
public:
    Gatekeeper(const sidecar::auth::Authenticator &authenticator, sidecar::auth::AuditSink &audit, ops::Counters &counters);

    const sidecar::auth::Authenticator &authenticator() const { return authenticator_; }

    // The connection is established; token is what the Authorization header or the
    // token query parameter carried, if anything. A bad token closes the session 4401.
    void on_connect(session::Session &s, const std::optional<std::string> &token, int64_t now);

    // Before hello is applied: true when the session is authenticated (by now or by
    // this hello), false when it was closed.
    bool on_hello(session::Session &s, const protocol::Hello &hello, int64_t now);

    // {"type":"auth"}: re-verifies; another sub, tenant or role closes 4403 (audited
    // auth_failed), a bad token 4401. Other claims are replaced.
    void on_auth(session::Session &s, const protocol::Auth &auth, int64_t now);

    // May s subscribe to sub.table? Sends the error frame (forbidden / bad_request) and
    // returns false when not; otherwise *scope is the subscription's narrowing.
    // A channel subscription (sub.channel): allowed by the token's channels claim
    // (channel_allowed), else error forbidden, counted and audited like a table's.
    bool authorize_channel(session::Session &s, const protocol::Subscribe &sub);
    bool authorize_subscribe(session::Session &s, const protocol::Subscribe &sub, const rules::LiveState &live,
                             std::shared_ptr<const rules::SubscriptionScope> *scope);

    // Closes sessions whose token expired (4401) and connections that did not
    // authenticate within the hello timeout (4401). now: unix seconds; now_ms: unix ms.
    void sweep(session::SessionTable &sessions, int64_t now, int64_t now_ms);

    void audit(const session::Session &s, const char *kind, std::string detail);

    // Rate limits, bans and activity (abuse_guard.hpp, security_store.hpp). Without
    // them (unit tests of other parts) nothing is limited, banned or recorded.
    void attach(sidecar::auth::AbuseGuard *guard, sidecar::auth::SecurityStore *store);
    sidecar::auth::AbuseGuard *guard() { return guard_; }

    // Called before the WebSocket handshake completes: true when address is banned
    // (the connection is then refused; counted, audited at most every 10 s per address).
    bool refuse_banned(const std::string &address, int64_t now_ms);
    // One client message: false when it is over the rate limit (the session is closed 4429).
    bool admit_message(session::Session &s, int64_t now_ms);
    // The ownership check found client_id bound to another owner: 4403, audited.
    void client_id_taken(session::Session &s, const std::string &client_id);
    // Bans address until now + seconds here and in Redis; audited and counted.
    void ban(const std::string &address, int64_t seconds, const std::string &reason, int64_t now_ms);
    // An auth failure from address (also a wrong admin token): bans it at the threshold.
    void auth_failure_from(const std::string &address, int64_t now_ms);
    // A session is going away: its last activity counts are kept for the next flush.
    void on_closed(session::Session &s, int64_t now_ms);

private:
    // Counts an auth failure of s's address; bans the address at the threshold.
    void auth_failure(session::Session &s);
    // A rate-limit or banned-address event, audited at most once per 10 s per address.
    void audit_throttled(const std::string &address, const session::Session *s, const char *kind, std::string detail,
                         int64_t now_ms);
    void collect_activity(session::Session &s, int64_t now_ms);

    void refuse(session::Session &s, const std::string &code, const std::string &message);

    const sidecar::auth::Authenticator &authenticator_;
    sidecar::auth::AuditSink &audit_;
    ops::Counters &counters_;
    sidecar::auth::AbuseGuard *guard_ = nullptr;
    sidecar::auth::SecurityStore *store_ = nullptr;
    std::unordered_map<std::string, int64_t> audit_quiet_until_;     // kind|address → unix ms
    std::unordered_map<std::string, sidecar::auth::ActivityDelta> activity_;        // owner → counts since the last flush
    // Every service thread calls in (net/server_group.hpp); each public method holds it.
    std::recursive_mutex mutex_;
};

}  // namespace livesync::session
