#include "sidecar/auth/gatekeeper.hpp"

#include <vector>

#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"

namespace livesync::sidecar::auth {

Gatekeeper::Gatekeeper(const Authenticator &authenticator, AuditSink &audit, ops::Counters &counters)
    : authenticator_(authenticator), audit_(audit), counters_(counters) {}

void Gatekeeper::audit(const session::Session &s, const char *kind, std::string detail) {
    AuditEvent e;
    e.kind = kind;
    e.address = s.address();
    if (s.identity()) e.subject = s.identity()->subject;
    if (s.greeted()) e.client_id = s.client_id();
    e.detail = std::move(detail);
    audit_.record(std::move(e));
}

void Gatekeeper::refuse(session::Session &s, const std::string &code, const std::string &message) {
    counters_.auth_failures.fetch_add(1);
    audit(s, "auth_failed", code + ": " + message);
    s.request_close(kCloseUnauthorized, code + ": " + message);
}

void Gatekeeper::on_connect(session::Session &s, const std::optional<std::string> &token, int64_t now) {
    if (!token) return;  // may still come with hello
    auto result = authenticator_.authenticate(*token, now);
    if (auto *err = std::get_if<TokenError>(&result)) return refuse(s, err->code, err->message);
    s.set_identity(std::move(std::get<Identity>(result)));
}

bool Gatekeeper::on_hello(session::Session &s, const protocol::Hello &hello, int64_t now) {
    if (s.close_request()) return false;
    if (s.identity()) {
        if (hello.token) on_auth(s, protocol::Auth{*hello.token}, now);
        return !s.close_request();
    }
    if (hello.token) {
        auto result = authenticator_.authenticate(*hello.token, now);
        if (auto *err = std::get_if<TokenError>(&result)) {
            refuse(s, err->code, err->message);
            return false;
        }
        s.set_identity(std::move(std::get<Identity>(result)));
        return true;
    }
    if (authenticator_.allows_anonymous()) {
        s.set_identity(authenticator_.anonymous());
        return true;
    }
    refuse(s, "token_required",
           "send a token: an Authorization: Bearer header, ?token= on the URL, or a token field in hello");
    return false;
}

void Gatekeeper::on_auth(session::Session &s, const protocol::Auth &auth, int64_t now) {
    auto result = authenticator_.authenticate(auth.token, now);
    if (auto *err = std::get_if<TokenError>(&result)) return refuse(s, err->code, err->message);
    Identity &fresh = std::get<Identity>(result);
    const Identity *current = s.identity();
    if (current && (current->anonymous || fresh.subject != current->subject)) {
        audit(s, "auth_failed", "refresh with a token of another subject");
        counters_.auth_failures.fetch_add(1);
        s.request_close(kCloseForbidden, "forbidden: a refreshed token must have the same sub");
        return;
    }
    int64_t expires_at = fresh.expires_at;
    s.set_identity(std::move(fresh));
    counters_.auth_refreshes.fetch_add(1);
    s.send_text(protocol::encode_authenticated(expires_at));
}

bool Gatekeeper::authorize_subscribe(session::Session &s, const protocol::Subscribe &sub,
                                     const stream::LiveState &live, std::shared_ptr<const SubscriptionScope> *scope) {
    const Identity *id = s.identity();
    const Rule *rule = id ? live.rules.find(id->role, sub.table) : nullptr;
    if (rule == nullptr) {
        counters_.forbidden_subscriptions.fetch_add(1);
        audit(s, "forbidden", "subscribe to " + sub.table + " as role \"" + (id ? id->role : std::string()) + "\"");
        s.send_text(protocol::encode_error("forbidden", "your role may not read " + sub.table, sub.id));
        return false;
    }
    Viewer v;
    v.table = live.tables.scope(sub.table);
    v.rule = rule;
    v.identity = id;
    std::string error;
    auto made = make_subscription_scope(sub.filter, sub.columns, visible_columns(v), &error);
    if (!made) {
        s.send_text(protocol::encode_error("bad_request", error, sub.id));
        return false;
    }
    if (made->filter || made->columns) *scope = std::make_shared<const SubscriptionScope>(std::move(*made));
    return true;
}

void Gatekeeper::sweep(session::SessionTable &sessions, int64_t now, int64_t now_ms) {
    const int64_t hello_deadline_ms = static_cast<int64_t>(authenticator_.config().hello_timeout_seconds) * 1000;
    std::vector<session::Session *> expired, silent;
    sessions.for_each([&](session::Session &s) {
        if (s.close_request()) return;
        const Identity *id = s.identity();
        if (id && id->close_at != 0 && now > id->close_at) expired.push_back(&s);
        else if (!id && now_ms - s.connected_at_ms() > hello_deadline_ms) silent.push_back(&s);
    });
    for (session::Session *s : expired) {
        counters_.sessions_expired.fetch_add(1);
        audit(*s, "token_expired", "the session's token expired without a refresh");
        s->request_close(kCloseUnauthorized, "token_expired: send {\"type\":\"auth\"} with a fresh token before exp");
    }
    for (session::Session *s : silent) refuse(*s, "token_required", "no hello with credentials in time");
}

}  // namespace livesync::sidecar::auth
