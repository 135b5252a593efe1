// The security layer of a session, on the lws thread: authentication at connect (a
// token in the Authorization header or ?token=) or at hello (a token field, or
// anonymous when allowed), token refresh ({"type":"auth"}), the subscribe-time rule
// check, and the sweep that closes sessions whose token expired or that never said
// hello. Every refusal is audited. Close codes: 4401 unauthenticated, 4403 forbidden.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "sidecar/auth/access.hpp"
#include "sidecar/auth/audit.hpp"
#include "sidecar/auth/authenticator.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/stream/live_state.hpp"

namespace livesync::sidecar::auth {

inline constexpr uint16_t kCloseUnauthorized = 4401;
inline constexpr uint16_t kCloseForbidden = 4403;
inline constexpr uint16_t kCloseRateLimited = 4429;

class Gatekeeper {
public:
    Gatekeeper(const Authenticator &authenticator, AuditSink &audit, ops::Counters &counters);

    const Authenticator &authenticator() const { return authenticator_; }

    // The connection is established; token is what the Authorization header or the
    // token query parameter carried, if anything. A bad token closes the session 4401.
    void on_connect(session::Session &s, const std::optional<std::string> &token, int64_t now);

    // Before hello is applied: true when the session is authenticated (by now or by
    // this hello), false when it was closed.
    bool on_hello(session::Session &s, const protocol::Hello &hello, int64_t now);

    // {"type":"auth"}: re-verifies; another "sub" closes 4403, a bad token 4401.
    void on_auth(session::Session &s, const protocol::Auth &auth, int64_t now);

    // May s subscribe to sub.table? Sends the error frame (forbidden / bad_request) and
    // returns false when not; otherwise *scope is the subscription's narrowing.
    bool authorize_subscribe(session::Session &s, const protocol::Subscribe &sub, const stream::LiveState &live,
                             std::shared_ptr<const SubscriptionScope> *scope);

    // Closes sessions whose token expired (4401) and connections that did not
    // authenticate within the hello timeout (4401). now: unix seconds; now_ms: unix ms.
    void sweep(session::SessionTable &sessions, int64_t now, int64_t now_ms);

    void audit(const session::Session &s, const char *kind, std::string detail);

private:
    void refuse(session::Session &s, const std::string &code, const std::string &message);

    const Authenticator &authenticator_;
    AuditSink &audit_;
    ops::Counters &counters_;
};

}  // namespace livesync::sidecar::auth
