#include "sidecar/session/gatekeeper.hpp"

#include <vector>

#include "sidecar/auth/ownership.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"
#include "sidecar/registry/client_record.hpp"

namespace livesync::session {

Gatekeeper::Gatekeeper(const sidecar::auth::Authenticator &authenticator, sidecar::auth::AuditSink &audit, ops::Counters &counters)
    : authenticator_(authenticator), audit_(audit), counters_(counters) {}

void Gatekeeper::audit(const session::Session &s, const char *kind, std::string detail) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    sidecar::auth::AuditEvent e;
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
    auth_failure(s);
}

void Gatekeeper::attach(sidecar::auth::AbuseGuard *guard, sidecar::auth::SecurityStore *store) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    guard_ = guard;
    store_ = store;
}

void Gatekeeper::audit_throttled(const std::string &address, const session::Session *s, const char *kind,
                                 std::string detail, int64_t now_ms) {
    std::string key = std::string(kind) + "|" + address;
    auto it = audit_quiet_until_.find(key);
    if (it != audit_quiet_until_.end() && it->second > now_ms) return;
    if (audit_quiet_until_.size() >= 10000) audit_quiet_until_.clear();  // bounded; worst case: more events
    audit_quiet_until_[key] = now_ms + 10000;
    if (s) return audit(*s, kind, std::move(detail));
    sidecar::auth::AuditEvent e;
    e.kind = kind;
    e.address = address;
    e.detail = std::move(detail);
    audit_.record(std::move(e));
}

bool Gatekeeper::refuse_banned(const std::string &address, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!guard_ || !guard_->banned(address, now_ms)) return false;
    counters_.banned_refusals.fetch_add(1);
    audit_throttled(address, nullptr, "refused_banned", "connection from a banned address refused", now_ms);
    return true;
}

bool Gatekeeper::admit_message(session::Session &s, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    ++s.messages_in;
    if (!guard_) return true;
    const rules::Identity *id = s.identity();
    // One bucket per address until a token names a user (anonymous sessions included);
    // a user's bucket is the user in its tenant (client_owner()): the same sub in two
    // tenants is two users.
    std::string key = id && !id->anonymous ? sidecar::auth::client_owner(*id, s.address())
                                           : sidecar::auth::owner_key(false, false, std::string(), s.address());
    if (guard_->allow_message(key, now_ms)) return true;
    counters_.rate_limited.fetch_add(1);
    audit_throttled(s.address(), &s, "rate_limited", "messages over --rate-messages", now_ms);
    s.request_close(kCloseRateLimited, "rate limited: too many messages; slow down and reconnect");
    return false;
}

void Gatekeeper::client_id_taken(session::Session &s, const std::string &client_id) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    counters_.auth_failures.fetch_add(1);
    audit(s, "client_id_taken", "client id " + client_id + " belongs to another user");
    s.request_close(kCloseForbidden, kClientIdTakenReason);
    auth_failure(s);
}

void Gatekeeper::auth_failure(session::Session &s) { auth_failure_from(s.address(), registry::unix_ms_now()); }

void Gatekeeper::auth_failure_from(const std::string &address, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (guard_ && guard_->auth_failed(address, now_ms))
        ban(address, guard_->config().ban_seconds, "too many auth failures", now_ms);
}

void Gatekeeper::ban(const std::string &address, int64_t seconds, const std::string &reason, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    int64_t until_ms = now_ms + seconds * 1000;
    if (guard_) guard_->ban(address, until_ms, now_ms);
    if (store_) store_->ban(address, until_ms, reason);
    counters_.bans.fetch_add(1);
    sidecar::auth::AuditEvent e;
    e.kind = "banned";
    e.address = address;
    e.detail = reason + " (" + std::to_string(seconds) + " s)";
    audit_.record(std::move(e));
}

void Gatekeeper::collect_activity(session::Session &s, int64_t now_ms) {
    const rules::Identity *id = s.identity();
    if (!id || !s.greeted()) return;
    if (s.activity_counted && s.messages_in == 0 && s.messages_out == 0) return;
    // Keyed by the user in its tenant (client_owner()), shown as owner_key().
    std::string owner = sidecar::auth::client_owner(*id, s.address());
    sidecar::auth::ActivityDelta &d = activity_[owner];
    if (d.owner.empty()) {
        d.owner = std::move(owner);
        d.user = sidecar::auth::owner_key(true, id->anonymous, id->subject, s.address());
    }
    if (id->tenant) d.tenant = *id->tenant;
    if (!s.activity_counted) ++d.sessions;
    s.activity_counted = true;
    d.messages_in += s.messages_in;
    d.messages_out += s.messages_out;
    d.last_seen_ms = now_ms;
    s.messages_in = s.messages_out = 0;
}

void Gatekeeper::on_closed(session::Session &s, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (store_) collect_activity(s, now_ms);
}

void Gatekeeper::on_connect(session::Session &s, const std::optional<std::string> &token, int64_t now) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    int64_t now_ms = registry::unix_ms_now();
    if (guard_ && !guard_->allow_connection(s.address(), now_ms)) {
        counters_.rate_limited.fetch_add(1);
        audit_throttled(s.address(), &s, "rate_limited", "connections over --rate-connections", now_ms);
        s.request_close(kCloseRateLimited, "rate limited: too many connections from your address; retry later");
        return;
    }
    if (!token) return;  // may still come with hello
    auto result = authenticator_.authenticate(*token, now);
    if (auto *err = std::get_if<sidecar::auth::TokenError>(&result)) return refuse(s, err->code, err->message);
    s.set_identity(std::move(std::get<rules::Identity>(result)));
}

bool Gatekeeper::on_hello(session::Session &s, const protocol::Hello &hello, int64_t now) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (s.close_request()) return false;
    if (s.identity()) {
        if (hello.token) on_auth(s, protocol::Auth{*hello.token}, now);
        return !s.close_request();
    }
    if (hello.token) {
        auto result = authenticator_.authenticate(*hello.token, now);
        if (auto *err = std::get_if<sidecar::auth::TokenError>(&result)) {
            refuse(s, err->code, err->message);
            return false;
        }
        s.set_identity(std::move(std::get<rules::Identity>(result)));
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
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    auto result = authenticator_.authenticate(auth.token, now);
    if (auto *err = std::get_if<sidecar::auth::TokenError>(&result)) return refuse(s, err->code, err->message);
    rules::Identity &fresh = std::get<rules::Identity>(result);
    const rules::Identity *current = s.identity();
    // Subscriptions were authorized, and their audiences keyed, for this user, tenant and
    // role: a token that names another is a new session, not a refresh.
    if (current) {
        const char *changed = current->anonymous                 ? "anonymous session"
                              : fresh.subject != current->subject ? "sub"
                              : fresh.tenant != current->tenant   ? "tenant"
                              : fresh.role != current->role       ? "role"
                                                                  : nullptr;
        if (changed) {
            audit(s, "auth_failed", std::string("refresh with a token of another ") + changed);
            counters_.auth_failures.fetch_add(1);
            s.request_close(kCloseForbidden, "forbidden: a refreshed token must have the same sub, tenant and role");
            auth_failure(s);
            return;
        }
    }
    int64_t expires_at = fresh.expires_at;
    s.set_identity(std::move(fresh));
    counters_.auth_refreshes.fetch_add(1);
    s.send_text(protocol::encode_authenticated(expires_at));
}

bool Gatekeeper::authorize_channel(session::Session &s, const protocol::Subscribe &sub) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const rules::Identity *id = s.identity();
    if (id && rules::channel_allowed(*id, authenticator_.config().channels_claim, *sub.channel)) return true;
    counters_.forbidden_subscriptions.fetch_add(1);
    audit(s, "forbidden", "subscribe to channel " + *sub.channel);
    s.send_error("forbidden", "your token does not allow channel " + *sub.channel, sub.id);
    return false;
}

bool Gatekeeper::authorize_subscribe(session::Session &s, const protocol::Subscribe &sub,
                                     const rules::LiveState &live, std::shared_ptr<const rules::SubscriptionScope> *scope) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const rules::Identity *id = s.identity();
    const rules::Rule *rule = id ? live.rules.find(id->role, sub.table) : nullptr;
    if (rule == nullptr) {
        counters_.forbidden_subscriptions.fetch_add(1);
        audit(s, "forbidden", "subscribe to " + sub.table + " as role \"" + (id ? id->role : std::string()) + "\"");
        s.send_error("forbidden", "your role may not read " + sub.table, sub.id);
        return false;
    }
    rules::Viewer v;
    v.table = live.tables.scope(sub.table);
    v.rule = rule;
    v.identity = id;
    std::string error;
    auto made = rules::make_subscription_scope(sub.filter, sub.columns, rules::visible_columns(v), &error);
    if (!made) {
        s.send_error("bad_request", error, sub.id);
        return false;
    }
    if (made->filter || made->columns) *scope = std::make_shared<const rules::SubscriptionScope>(std::move(*made));
    return true;
}

void Gatekeeper::sweep(session::SessionTable &sessions, int64_t now, int64_t now_ms) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    const int64_t hello_deadline_ms = static_cast<int64_t>(authenticator_.config().hello_timeout_seconds) * 1000;
    std::vector<session::Session *> expired, silent;
    sessions.for_each([&](session::Session &s) {
        if (s.close_request()) return;
        const rules::Identity *id = s.identity();
        if (id && id->close_at != 0 && now > id->close_at) expired.push_back(&s);
        else if (!id && now_ms - s.connected_at_ms() > hello_deadline_ms) silent.push_back(&s);
    });
    for (session::Session *s : expired) {
        counters_.sessions_expired.fetch_add(1);
        audit(*s, "token_expired", "the session's token expired without a refresh");
        s->request_close(kCloseUnauthorized, "token_expired: send {\"type\":\"auth\"} with a fresh token before exp");
    }
    for (session::Session *s : silent) refuse(*s, "token_required", "no hello with credentials in time");
    if (!store_) return;
    sessions.for_each([&](session::Session &s) { collect_activity(s, now_ms); });
    if (activity_.empty()) return;
    std::vector<sidecar::auth::ActivityDelta> deltas;
    deltas.reserve(activity_.size());
    for (auto &[owner, d] : activity_) deltas.push_back(std::move(d));
    activity_.clear();
    store_->add_activity(std::move(deltas));
}

}  // namespace livesync::session
