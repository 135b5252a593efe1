#include "sidecar/admin/security_hub.hpp"

#include <libwebsockets.h>

#include <cstdlib>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/registry/client_record.hpp"

namespace livesync::admin {

namespace {

std::string header(struct lws *wsi, enum lws_token_indexes token, int max) {
    int n = lws_hdr_total_length(wsi, token);
    if (n <= 0 || n > max) return {};
    std::string out(static_cast<size_t>(n) + 1, '\0');
    if (lws_hdr_copy(wsi, out.data(), n + 1, token) < 0) return {};
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string method_of(struct lws *wsi) {
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) return "GET";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) return "POST";
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0) return "DELETE";
    return "OTHER";
}

}  // namespace

SecurityHub::SecurityHub(HubConfig config, session::Gatekeeper &gate, sidecar::auth::SecurityStore *store,
                         ops::Counters &counters, sidecar::auth::AuditSink &audit)
    : config_(std::move(config)), gate_(gate), store_(store), counters_(counters), audit_(audit) {}

void SecurityHub::bind(session::SessionTable &sessions, session::FrameHandler &handler, Respond respond,
                       std::function<void()> wake, std::function<std::string(struct lws *)> address_of) {
    sessions_ = &sessions;
    handler_ = &handler;
    respond_ = std::move(respond);
    wake_ = std::move(wake);
    address_of_ = std::move(address_of);
}

void SecurityHub::push(sidecar::auth::StoreResult result) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        inbox_.emplace_back(std::move(result));
    }
    if (wake_) wake_();
}

void SecurityHub::push(ControlCommand command) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        inbox_.emplace_back(std::move(command));
    }
    if (wake_) wake_();
}

bool SecurityHub::refuse_connection(const std::string &address) {
    return gate_.refuse_banned(address, registry::unix_ms_now());
}

void SecurityHub::drain() {
    std::deque<std::variant<sidecar::auth::StoreResult, ControlCommand>> items;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        items.swap(inbox_);
    }
    for (auto &item : items) {
        if (auto *command = std::get_if<ControlCommand>(&item)) {
            apply(*command);
            continue;
        }
        auto &result = std::get<sidecar::auth::StoreResult>(item);
        if (auto *claim = std::get_if<sidecar::auth::ClaimResult>(&result)) {
            on_claim(*claim);
        } else if (auto *bans = std::get_if<sidecar::auth::BanList>(&result)) {
            if (gate_.guard()) gate_.guard()->replace_bans(bans->until_ms, registry::unix_ms_now());
        } else if (auto *a = std::get_if<sidecar::auth::AdminAnswer>(&result)) {
            auto it = waiting_.find(a->ticket);
            if (it == waiting_.end()) continue;  // the client went away
            struct lws *wsi = it->second;
            waiting_.erase(it);
            ticket_of_.erase(wsi);
            respond_(wsi, http::HttpResponse{a->status, std::move(a->body)}, false);
        }
    }
}

void SecurityHub::on_claim(sidecar::auth::ClaimResult &claim) {
    const bool owned = claim.outcome == sidecar::auth::ClaimOutcome::Owned;
    session::Session *s = sessions_ ? sessions_->find_serial(claim.serial) : nullptr;
    if (s && owned) s->claim_generation = claim.generation;
    if (owned && !claim.replaced_sidecar.empty()) {
        counters_.client_takeovers.fetch_add(1);
        ops::info("client id taken over from another sidecar", {{"client_id", claim.client_id},
                                                                 {"from", claim.replaced_sidecar},
                                                                 {"generation", claim.generation}});
    }
    if (handler_) handler_->on_claim(claim.serial, claim.client_id, claim.outcome);
    if (!owned || !sessions_) return;
    // A newer hello elsewhere may have been announced before this answer came in.
    uint64_t newer = recent_replaces_.newest(claim.client_id, registry::unix_ms_now());
    if (!replace_closes(claim.generation, newer)) return;
    s = sessions_->find_serial(claim.serial);
    if (s && sessions_->holds_client(*s) && !s->close_request()) close_replaced(*s, std::string(), newer);
}

void SecurityHub::replace(const ControlCommand &c) {
    recent_replaces_.note(c.client_id, c.generation, registry::unix_ms_now());
    session::Session *s = sessions_ ? sessions_->find_client(c.client_id) : nullptr;
    if (!s || s->close_request() || !replace_closes(s->claim_generation, c.generation)) return;
    close_replaced(*s, c.holder, c.generation);
}

void SecurityHub::close_replaced(session::Session &s, const std::string &holder, uint64_t generation) {
    counters_.remote_replacements.fetch_add(1);
    ops::info("client connected on another sidecar: closing its session here", {{"client_id", s.client_id()},
                                                                                 {"address", s.address()},
                                                                                 {"holder", holder},
                                                                                 {"generation", generation}});
    s.request_close(session::kCloseReplaced, session::kReplacedReason);
}

void SecurityHub::apply(ControlCommand &command) {
    if (command.kind == "replace") return replace(command);  // by generation, whoever wrote it
    if (!command.origin.empty() && command.origin == config_.sidecar_id) return;  // acted on when written
    size_t n = kick(command);
    if (n) ops::info("control entry applied", {{"kind", command.kind}, {"sessions", static_cast<uint64_t>(n)}});
}

size_t SecurityHub::kick(const ControlCommand &c) {
    if (!sessions_) return 0;
    std::vector<session::Session *> matched;
    if (c.kind == "kick" && !c.client_id.empty()) {
        if (session::Session *s = sessions_->find_client(c.client_id)) matched.push_back(s);
    } else {
        sessions_->for_each([&](session::Session &s) {
            const rules::Identity *id = s.identity();
            if (c.kind == "kick" ? (id && !id->anonymous && id->subject == c.user) : s.address() == c.address)
                matched.push_back(&s);
        });
    }
    size_t n = 0;
    for (session::Session *s : matched) {
        if (s->close_request()) continue;
        ++n;
        if (c.kind == "ban") {
            s->request_close(session::kCloseForbidden, kBannedReason);
            continue;
        }
        counters_.kicks.fetch_add(1);
        gate_.audit(*s, "kicked", c.client_id.empty() ? "kick of user " + c.user : "kick of client id " + c.client_id);
        s->request_close(kCloseKicked, kKickedReason);
    }
    return n;
}

int SecurityHub::on_request(struct lws *wsi, std::string_view path) {
    if (config_.admin_token.empty())
        return respond_(wsi, http::http_error(404, "not_found", "no such path"), true);
    Request r;
    r.method = method_of(wsi);
    r.path = std::string(path);
    if (!sidecar::auth::token_matches(config_.admin_token, header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, 4096))) {
        std::string address = address_of_(wsi);
        sidecar::auth::AuditEvent e;
        e.kind = "admin_auth_failed";
        e.address = address;
        e.detail = r.method + " " + r.path;
        audit_.record(std::move(e));
        counters_.auth_failures.fetch_add(1);
        gate_.auth_failure_from(address, registry::unix_ms_now());
        return respond_(wsi,
                        http::http_error(401, "unauthorized", "send Authorization: Bearer <admin token>"), true);
    }
    char buf[64];
    if (const char *v = lws_get_urlarg_by_name(wsi, "since=", buf, sizeof buf)) r.since = std::string(v);
    if (r.method != "POST") return answer(wsi, r);
    std::string length_text = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 32);
    char *rest = nullptr;
    unsigned long long length = std::strtoull(length_text.c_str(), &rest, 10);
    if (length_text.empty() || *rest != '\0')
        return respond_(wsi, http::http_error(411, "length_required", "send the body with a Content-Length"), true);
    if (length > kMaxAdminBodyBytes)
        return respond_(wsi, http::http_error(413, "too_large", "admin request bodies are at most 64 KiB"), true);
    if (length == 0) return answer(wsi, r);
    bodies_[wsi] = std::move(r);
    return 0;
}

int SecurityHub::on_body(struct lws *wsi, const char *data, size_t len) {
    auto it = bodies_.find(wsi);
    if (it == bodies_.end()) return 0;
    if (it->second.body.size() + len > kMaxAdminBodyBytes) {
        bodies_.erase(it);
        return respond_(wsi, http::http_error(413, "too_large", "admin request bodies are at most 64 KiB"), true);
    }
    it->second.body.append(data, len);
    return 0;
}

int SecurityHub::on_body_complete(struct lws *wsi) {
    auto it = bodies_.find(wsi);
    if (it == bodies_.end()) return 0;
    Request r = std::move(it->second);
    bodies_.erase(it);
    return answer(wsi, r);
}

void SecurityHub::on_http_closed(struct lws *wsi) {
    bodies_.erase(wsi);
    auto it = ticket_of_.find(wsi);
    if (it == ticket_of_.end()) return;
    waiting_.erase(it->second);
    ticket_of_.erase(it);
}

int SecurityHub::answer_across(struct lws *wsi, std::function<std::string(SecurityHub &)> part,
                               std::function<http::HttpResponse(std::vector<std::string>)> finish, bool close_after) {
    if (!gather_) return respond_(wsi, finish({part(*this)}), close_after);
    uint64_t ticket = new_ticket();
    waiting_[ticket] = wsi;
    ticket_of_[wsi] = ticket;
    // The answer comes back through the inbox like a Redis answer (drain()), so it is
    // written on this thread, and dropped if the client went away meanwhile.
    gather_(std::move(part), [this, ticket, finish = std::move(finish)](std::vector<std::string> results) {
        http::HttpResponse response = finish(std::move(results));
        push(sidecar::auth::StoreResult(sidecar::auth::AdminAnswer{ticket, response.status, std::move(response.body)}));
    });
    return 0;
}

namespace {
uint64_t sum_counts(const std::vector<std::string> &counts) {
    uint64_t n = 0;
    for (const std::string &c : counts) n += std::strtoull(c.c_str(), nullptr, 10);
    return n;
}
}  // namespace

int SecurityHub::answer(struct lws *wsi, const Request &r) {
    AdminRequest request = parse_admin(r.method, r.path, r.since ? &*r.since : nullptr, r.body);
    bool close_after = r.method != "GET";
    const int64_t now_ms = registry::unix_ms_now();
    if (auto *error = std::get_if<http::HttpResponse>(&request)) return respond_(wsi, std::move(*error), close_after);
    if (std::holds_alternative<ListSessions>(request))
        return answer_across(
            wsi, [](SecurityHub &hub) { return render_session_items(*hub.sessions_); },
            [sidecar = config_.sidecar_id](std::vector<std::string> items) {
                return http::HttpResponse{200, render_sessions(items, sidecar)};
            },
            close_after);
    if (std::holds_alternative<ListBans>(request)) {
        std::string body = "{\"bans\":[";
        bool first = true;
        if (gate_.guard())
            for (const auto &[address, until] : gate_.guard()->bans(now_ms)) {
                if (!first) body += ',';
                first = false;
                body += "{\"address\":";
                common::append_json_string(body, address);
                body += ",\"until\":" + std::to_string(until / 1000) + "}";
            }
        body += "]}";
        return respond_(wsi, http::HttpResponse{200, body}, close_after);
    }
    if (auto *activity = std::get_if<Activity>(&request)) {
        uint64_t ticket = new_ticket();
        if (!store_ || !store_->activity_report(ticket, activity->since))
            return respond_(wsi, http::http_error(503, "unavailable", "the activity report cannot be read now"),
                            close_after);
        waiting_[ticket] = wsi;
        ticket_of_[wsi] = ticket;
        return 0;
    }
    sidecar::auth::AuditEvent e;
    e.address = address_of_(wsi);
    if (auto *kick_request = std::get_if<Kick>(&request)) {
        ControlCommand c{"kick", kick_request->client_id, kick_request->user, "", config_.sidecar_id, 0, ""};
        // Other sidecars act on the control entry; this one's threads act now (they skip
        // the entry: its origin is this sidecar).
        if (store_)
            store_->publish_control({{"kind", "kick"},
                                     {c.client_id.empty() ? "user" : "client_id",
                                      c.client_id.empty() ? c.user : c.client_id},
                                     {"origin", config_.sidecar_id}});
        bool published = store_ != nullptr;
        return answer_across(
            wsi, [c](SecurityHub &hub) { return std::to_string(hub.kick(c)); },
            [this, c, e, published](std::vector<std::string> counts) mutable {
                uint64_t n = sum_counts(counts);
                e.kind = "admin_kick";
                e.client_id = c.client_id;
                e.subject = c.user;
                e.detail = "kicked " + std::to_string(n) + " session(s) here; published to every sidecar";
                audit_.record(std::move(e));
                std::string body = "{\"kicked_here\":" + std::to_string(n) +
                                   ",\"published\":" + (published ? "true" : "false") + ",\"sidecar\":";
                common::append_json_string(body, config_.sidecar_id);
                body += '}';
                return http::HttpResponse{200, body};
            },
            close_after);
    }
    if (auto *ban = std::get_if<Ban>(&request)) {
        gate_.ban(ban->address, ban->seconds, "banned by an administrator", now_ms);
        ControlCommand c{"ban", "", "", ban->address, config_.sidecar_id, 0, ""};
        if (store_) store_->publish_control({{"kind", "ban"}, {"address", ban->address}, {"origin", config_.sidecar_id}});
        int64_t until = now_ms / 1000 + ban->seconds;
        return answer_across(
            wsi, [c](SecurityHub &hub) { return std::to_string(hub.kick(c)); },
            [address = ban->address, until](std::vector<std::string> counts) {
                std::string body = "{\"address\":";
                common::append_json_string(body, address);
                body += ",\"until\":" + std::to_string(until) + ",\"closed_here\":" + std::to_string(sum_counts(counts)) +
                        "}";
                return http::HttpResponse{200, body};
            },
            close_after);
    }
    auto &unban = std::get<Unban>(request);
    if (gate_.guard()) gate_.guard()->unban(unban.address, now_ms);
    if (store_) store_->unban(unban.address);
    e.kind = "unbanned";
    e.address = unban.address;
    e.detail = "ban lifted by an administrator";
    audit_.record(std::move(e));
    std::string body = "{\"address\":";
    common::append_json_string(body, unban.address);
    body += ",\"unbanned\":true}";
    return respond_(wsi, http::HttpResponse{200, body}, close_after);
}

}  // namespace livesync::admin
