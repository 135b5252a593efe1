#include "sidecar/session/frame_handler.hpp"

#include <cstdio>
#include <ctime>

#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"

namespace livesync::session {

namespace {
std::optional<std::string> no_id;
}

FrameHandler::FrameHandler(std::string sidecar_id, SessionTable &sessions, const rules::LiveState &live,
                           registry::RegistrySink &registry, session::Gatekeeper &gate)
    : sidecar_id_(std::move(sidecar_id)), sessions_(sessions), live_(live), registry_(registry),
      rng_(std::random_device{}()), gate_(gate) {}

std::string FrameHandler::random_client_id() {
    char buf[40];
    std::snprintf(buf, sizeof buf, "c-%016llx%08llx", static_cast<unsigned long long>(rng_()),
                  static_cast<unsigned long long>(rng_() & 0xffffffffu));
    return buf;
}

void FrameHandler::on_text(Session &s, std::string_view text) {
    if (!gate_.admit_message(s, registry::unix_ms_now())) return;
    if (s.hello_pending) {
        if (s.held.size() >= kMaxHeldMessages || s.held_bytes + text.size() > kMaxHeldBytes) {
            s.request_close(1008, "too many messages before welcome");
            return;
        }
        s.held_bytes += text.size();
        s.held.emplace_back(text);
        return;
    }
    apply(s, text);
}

void FrameHandler::apply(Session &s, std::string_view text) {
    protocol::ClientFrame frame = protocol::parse_client_message(s.encoding(), text);
    if (auto *err = std::get_if<protocol::FrameError>(&frame)) {
        s.send_error(err->code, err->message, err->id);
        return;
    }
    if (auto *h = std::get_if<protocol::Hello>(&frame)) {
        hello(s, *h);
        return;
    }
    if (!s.greeted()) {
        s.send_error("hello_required", "send hello first", no_id);
        return;
    }
    if (auto *sub = std::get_if<protocol::Subscribe>(&frame)) {
        subscribe(s, *sub, live_.position);
    } else if (auto *unsub = std::get_if<protocol::Unsubscribe>(&frame)) {
        unsubscribe(s, *unsub);
    } else if (auto *ping = std::get_if<protocol::Ping>(&frame)) {
        s.send_text(protocol::encode_pong(ping->ref));
    } else if (auto *auth = std::get_if<protocol::Auth>(&frame)) {
        gate_.on_auth(s, *auth, static_cast<int64_t>(std::time(nullptr)));
    }
}

void FrameHandler::hello(Session &s, const protocol::Hello &hello) {
    if (s.greeted() || s.hello_pending) {
        s.send_error("bad_request", "hello was already received on this connection", no_id);
        return;
    }
    if (!gate_.on_hello(s, hello, static_cast<int64_t>(std::time(nullptr)))) return;
    bool resume = hello.last_lsn.has_value();
    if ((resume || !hello.subscriptions.empty()) && !live_.ready) {
        // Until the stream was read once there is no live position to resume up to.
        s.send_error("not_ready", "the sidecar has not read the change stream yet; retry", no_id);
        return;
    }
    if (resume && resumer_ == nullptr) {
        s.send_error("resume_unavailable", "this sidecar cannot resume from last_lsn", no_id);
        return;
    }
    std::string client_id = hello.client_id ? *hello.client_id : random_client_id();
    if (ownership_ != nullptr) {
        const rules::Identity *id = s.identity();
        if (!ownership_->claim(s.serial(), client_id, sidecar::auth::client_owner(*id, s.address()))) {
            s.send_error("not_ready", "cannot check the client id's owner now; retry", no_id);
            return;
        }
        s.hello_pending = true;
        pending_hellos_.emplace(s.serial(), hello);
        return;
    }
    finish_hello(s, hello, std::move(client_id));
}

void FrameHandler::on_claim(uint64_t serial, const std::string &client_id, sidecar::auth::ClaimOutcome outcome) {
    auto it = pending_hellos_.find(serial);
    Session *s = sessions_.find_serial(serial);
    if (it == pending_hellos_.end() || s == nullptr) return;
    protocol::Hello hello = std::move(it->second);
    pending_hellos_.erase(it);
    s->hello_pending = false;
    if (s->close_request()) return;
    switch (outcome) {
        case sidecar::auth::ClaimOutcome::Foreign: gate_.client_id_taken(*s, client_id); return;
        case sidecar::auth::ClaimOutcome::Unavailable:
            s->send_error("not_ready", "cannot check the client id's owner (Redis unreachable); send hello again",
                          no_id);
            break;
        case sidecar::auth::ClaimOutcome::Owned:
            if ((hello.last_lsn || !hello.subscriptions.empty()) && !live_.ready) {
                s->send_error("not_ready", "the sidecar has not read the change stream yet; retry", no_id);
                break;
            }
            finish_hello(*s, hello, client_id);
            break;
    }
    // Messages sent after the hello, in order; one of them may be a hello again.
    while (!s->held.empty() && !s->hello_pending && !s->close_request()) {
        std::string text = std::move(s->held.front());
        s->held.erase(s->held.begin());
        s->held_bytes -= text.size();
        apply(*s, text);
    }
}

void FrameHandler::finish_hello(Session &s, const protocol::Hello &hello, std::string client_id) {
    bool resume = hello.last_lsn.has_value();
    s.set_client_id(std::move(client_id));
    if (Session *previous = sessions_.bind_client(s)) {
        ops::info("client connected again: closing its older session",
                  {{"client_id", s.client_id()}, {"address", previous->address()}});
        previous->request_close(kCloseReplaced, kReplacedReason);
    }
    // A resuming session is live after last_lsn: the replay brings it up to date first.
    uint64_t from = resume ? *hello.last_lsn : live_.position;
    s.send_text(protocol::encode_welcome(s.client_id(), sidecar_id_, from));
    publish_record(s);
    for (const protocol::Subscribe &sub : hello.subscriptions) subscribe(s, sub, from);
    if (resume) resumer_->begin_resume(s, from);
    ops::info("client hello", {{"client_id", s.client_id()}, {"address", s.address()}, {"resume", resume}});
}

void FrameHandler::subscribe(Session &s, const protocol::Subscribe &sub, uint64_t live_after) {
    if (s.has_subscription(sub.id)) {
        s.send_error("duplicate_id", "subscription id " + sub.id + " is already in use", sub.id);
        return;
    }
    if (s.subscription_count() >= kMaxSubscriptionsPerSession) {
        s.send_error("too_many_subscriptions",
                     "at most " + std::to_string(kMaxSubscriptionsPerSession) + " subscriptions per session", sub.id);
        return;
    }
    if (!live_.ready) {
        s.send_error("not_ready", "the sidecar has not read the change stream yet; retry", sub.id);
        return;
    }
    if (sub.channel) {
        if (!gate_.authorize_channel(s, sub)) return;
        std::string key = protocol::channel_key(*sub.channel);
        s.add_subscription(sub.id, key, live_after, nullptr);
        sessions_.index_table(s, key);
        publish_record(s);
        s.send_text(protocol::encode_subscribed_channel(sub.id, *sub.channel, live_after));
        return;
    }
    if (!live_.tables.contains(sub.table)) {
        s.send_error("unknown_table", "table " + sub.table + " is not published", sub.id);
        return;
    }
    std::shared_ptr<const rules::SubscriptionScope> scope;
    if (!gate_.authorize_subscribe(s, sub, live_, &scope)) return;
    if (sub.snapshot && (snapshots_ == nullptr || !snapshots_->snapshots_available())) {
        s.send_error("snapshot_unavailable", "this sidecar reads no snapshots (start livesyncd with --postgres)",
                     sub.id);
        return;
    }
    s.add_subscription(sub.id, sub.table, live_after, std::move(scope));
    sessions_.index_table(s, sub.table);
    publish_record(s);
    s.send_text(protocol::encode_subscribed(sub.id, sub.table, live_after));
    if (sub.snapshot) snapshots_->begin_snapshot(s, sub.id);
}

void FrameHandler::unsubscribe(Session &s, const protocol::Unsubscribe &unsub) {
    auto table = s.remove_subscription(unsub.id);
    if (!table) {
        s.send_error("unknown_subscription", "no subscription with id " + unsub.id, unsub.id);
        return;
    }
    if (!s.subs_by_table().count(*table)) sessions_.unindex_table(s, *table);
    publish_record(s);
    s.send_text(protocol::encode_unsubscribed(unsub.id));
    if (snapshots_) snapshots_->subscriptions_changed(&s);
}

size_t FrameHandler::end_lost_subscriptions() {
    size_t ended = 0;
    sessions_.for_each([&](Session &s) {
        // A session still replaying is judged by each replayed transaction's own version
        // (stream/replay.hpp): ending its subscriptions now would cut history it may see.
        if (s.replay.active) return;
        ended += end_lost_subscriptions(s, live_.tables, live_.rules);
    });
    if (ended) ops::info("subscriptions ended: their access is gone", {{"subscriptions", static_cast<uint64_t>(ended)}});
    return ended;
}

size_t FrameHandler::end_lost_subscriptions(Session &s, const rules::PublishedTables &tables,
                                            const rules::RuleSet &rules) {
    size_t ended = 0;
    {
        if (!s.greeted() || s.close_request()) return 0;
        struct Lost {
            std::string id, table;
            bool published;
            bool schema_changed;  // disabled by a schema change, not revoked or unpublished
        };
        std::vector<Lost> lost;
        const rules::Identity *identity = s.identity();
        for (const auto &[table, subs] : s.subs_by_table()) {
            if (protocol::is_channel_key(table)) continue;  // granted by the token, not by rules
            bool published = tables.contains(table);
            if (published && identity && rules.find(identity->role, table)) continue;
            bool schema_changed = published ? identity && rules.disabled(identity->role, table) : tables.disabled(table);
            for (const SubscriptionEntry &e : subs) lost.push_back(Lost{e.id, table, published, schema_changed});
        }
        if (lost.empty()) return 0;
        for (const Lost &l : lost) {
            s.remove_subscription(l.id);
            if (!s.subs_by_table().count(l.table)) sessions_.unindex_table(s, l.table);
            if (l.schema_changed)
                s.send_text(protocol::encode_unsubscribed(
                    l.id, "schema_changed",
                    "a schema change of " + l.table + " disabled " + (l.published ? "your role's grant" : "its publication")));
            else if (l.published)
                s.send_text(protocol::encode_unsubscribed(
                    l.id, "forbidden", "access to " + l.table + " was revoked for your role"));
            else
                s.send_text(protocol::encode_unsubscribed(l.id, "unknown_table",
                                                          "table " + l.table + " is no longer published"));
        }
        ended += lost.size();
        publish_record(s);
    }
    return ended;
}

void FrameHandler::publish_record(const Session &s) {
    if (!sessions_.holds_client(s)) return;
    registry::ClientRecord r;
    r.client_id = s.client_id();
    r.address = s.address();
    r.connected_at_ms = s.connected_at_ms();
    r.last_activity_ms = registry::unix_ms_now();
    r.subscriptions = s.subscribed_tables();
    r.generation = s.claim_generation;
    if (const rules::Identity *id = s.identity()) {
        if (!id->anonymous) r.user = id->subject;
        r.tenant = id->tenant;
        if (!id->role.empty()) r.role = id->role;
    }
    registry_.upsert(std::move(r));
}

void FrameHandler::on_closed(Session &s) {
    pending_hellos_.erase(s.serial());
    gate_.on_closed(s, registry::unix_ms_now());
    if (sessions_.holds_client(s)) {
        registry_.remove(s.client_id(), s.claim_generation);
        ops::info("client gone", {{"client_id", s.client_id()}, {"address", s.address()}});
    }
    sessions_.close(s);
    if (snapshots_) snapshots_->subscriptions_changed(nullptr);
}

}  // namespace livesync::session
