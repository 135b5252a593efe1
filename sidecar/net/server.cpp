#include "sidecar/net/server.hpp"

#include <libwebsockets.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "sidecar/ops/log.hpp"
#include "sidecar/registry/client_record.hpp"
#include "sidecar/stream/batch_applier.hpp"

namespace livesync::net {

namespace {

constexpr size_t kEventsPerWake = 64;  // bound the work per wake-up so sockets stay served

struct SyncSessionData {
    session::Session *session;  // owned by SessionTable; nullptr before ESTABLISHED
};

Server *server_of(struct lws *wsi) {
    return static_cast<Server *>(lws_context_user(lws_get_context(wsi)));
}

int http_trampoline(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    return server_of(wsi)->on_http(wsi, reason, user, in, len);
}

int sync_trampoline(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    return server_of(wsi)->on_sync(wsi, reason, user, in, len);
}

// protocols[0] gets plain HTTP; a WebSocket upgrade binds to the protocol named by its
// Sec-WebSocket-Protocol (an upgrade without one falls to protocols[0] and is refused).
const struct lws_protocols kProtocols[] = {
    {"http", http_trampoline, 0, 0, 0, nullptr, 0},
    {"livesync.v1.json", sync_trampoline, sizeof(SyncSessionData), 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string header(struct lws *wsi, enum lws_token_indexes token) {
    int n = lws_hdr_total_length(wsi, token);
    if (n <= 0) return {};
    std::string out(static_cast<size_t>(n) + 1, '\0');
    if (lws_hdr_copy(wsi, out.data(), n + 1, token) < 0) return {};
    out.resize(static_cast<size_t>(n));
    return out;
}

void on_grace_over(lws_sorted_usec_list_t *) {}

}  // namespace

Server::Server(ServerConfig config, stream::EventQueue &events, registry::RegistrySink &registry,
               ops::Counters &counters)
    : config_(std::move(config)), events_(events), counters_(counters),
      handler_(config_.sidecar_id, sessions_, live_, registry) {}

Server::~Server() {
    if (context_) lws_context_destroy(context_);
}

bool Server::listen(std::string *error) {
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = config_.port;
    info.iface = config_.host.c_str();
    info.protocols = kProtocols;
    info.user = this;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (config_.host.find(':') != std::string::npos) info.options &= ~LWS_SERVER_OPTION_DISABLE_IPV6;
    context_ = lws_create_context(&info);
    if (context_ == nullptr) {
        *error = "cannot listen on " + config_.host + ":" + std::to_string(config_.port);
        return false;
    }
    return true;
}

void Server::wake() {
    if (context_) lws_cancel_service(context_);
}

void Server::request_stop() {
    stop_requested_.store(true);
    wake();
}

void Server::run() {
    lws_sorted_usec_list_t grace;
    std::memset(&grace, 0, sizeof grace);
    std::chrono::steady_clock::time_point deadline;
    bool grace_scheduled = false;
    while (lws_service(context_, 0) >= 0) {
        if (!stopping_) continue;
        if (sessions_.size() == 0) break;
        auto now = std::chrono::steady_clock::now();
        if (!grace_scheduled) {
            // Wakes the loop when the grace period ends even if no socket does.
            deadline = now + std::chrono::milliseconds(config_.shutdown_grace_ms);
            lws_sul_schedule(context_, 0, &grace, on_grace_over,
                             static_cast<lws_usec_t>(config_.shutdown_grace_ms) * LWS_US_PER_MS);
            grace_scheduled = true;
        } else if (now >= deadline) {
            ops::warn("sessions still open after the grace period",
                      {{"sessions", static_cast<uint64_t>(sessions_.size())}});
            break;
        }
    }
    lws_sul_cancel(&grace);
}

void Server::begin_shutdown() {
    stopping_ = true;
    ops::info("closing sessions", {{"sessions", static_cast<uint64_t>(sessions_.size())}});
    sessions_.for_each([](session::Session &s) { s.request_close(1001, "sidecar shutting down"); });
}

void Server::drain_events() {
    std::vector<stream::StreamEvent> batch;
    bool more = events_.pop_some(kEventsPerWake, batch);
    for (stream::StreamEvent &event : batch) stream::apply_event(event, live_, sessions_, counters_);
    if (more) wake();
}

int Server::write_http(struct lws *wsi) {
    auto it = http_pending_.find(wsi);
    if (it == http_pending_.end()) return 0;
    std::string buf(LWS_PRE, '\0');
    buf += it->second.body;
    http_pending_.erase(it);
    size_t len = buf.size() - LWS_PRE;
    auto *payload = reinterpret_cast<unsigned char *>(buf.data()) + LWS_PRE;
    if (lws_write(wsi, payload, len, LWS_WRITE_HTTP_FINAL) != static_cast<int>(len)) return -1;
    bool close = http_close_after_[wsi];
    http_close_after_.erase(wsi);
    if (close) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int Server::on_http(struct lws *wsi, int reason, void *user, void *in, size_t len) {
    switch (reason) {
        case LWS_CALLBACK_HTTP: {
            bool is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
            std::string path = in ? static_cast<const char *>(in) : "";
            HttpResponse response = route_http(is_get ? "GET" : "OTHER", path, sessions_, config_.sidecar_id);
            unsigned char headers[LWS_PRE + 1024];
            unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof headers - 1;
            if (lws_add_http_common_headers(wsi, response.status, "application/json", response.body.size(), &p,
                                            end) ||
                lws_finalize_write_http_header(wsi, start, &p, end))
                return 1;
            http_pending_[wsi] = std::move(response);
            http_close_after_[wsi] = !is_get;
            lws_callback_on_writable(wsi);
            return 0;
        }
        case LWS_CALLBACK_HTTP_WRITEABLE: return write_http(wsi);
        case LWS_CALLBACK_CLOSED_HTTP:
            http_pending_.erase(wsi);
            http_close_after_.erase(wsi);
            return 0;
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            // A WebSocket upgrade that did not ask for livesync.v1.json.
            return 1;
        default: return lws_callback_http_dummy(wsi, static_cast<enum lws_callback_reasons>(reason), user, in, len);
    }
}

int Server::on_sync(struct lws *wsi, int reason, void *user, void *in, size_t len) {
    auto *data = static_cast<SyncSessionData *>(user);
    switch (reason) {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            if (stop_requested_.load() && !stopping_) begin_shutdown();
            if (!stopping_) drain_events();
            return 0;

        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            if (stopping_) return 1;
            return header(wsi, WSI_TOKEN_GET_URI) == kSyncPath ? 0 : 1;

        case LWS_CALLBACK_ESTABLISHED: {
            char address[128] = "";
            lws_get_peer_simple(wsi, address, sizeof address);
            session::Session &s = sessions_.open(wsi, address, registry::unix_ms_now(), config_.max_send_queue_bytes,
                                                 [wsi] { lws_callback_on_writable(wsi); });
            data->session = &s;
            counters_.sessions_opened.fetch_add(1);
            return 0;
        }

        case LWS_CALLBACK_RECEIVE: {
            session::Session *s = data->session;
            if (s == nullptr) return -1;
            if (s->close_request()) return 0;  // closing: input is ignored
            if (lws_frame_is_binary(wsi)) {
                static const char kReason[] = "binary frames are not accepted on livesync.v1.json";
                lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                                 reinterpret_cast<unsigned char *>(const_cast<char *>(kReason)), sizeof kReason - 1);
                return -1;
            }
            if (lws_is_first_fragment(wsi)) s->rx.clear();
            if (s->rx.size() + len > config_.max_message_bytes) {
                static const char kReason[] = "message over 1 MiB";
                lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                                 reinterpret_cast<unsigned char *>(const_cast<char *>(kReason)), sizeof kReason - 1);
                return -1;
            }
            s->rx.append(static_cast<const char *>(in), len);
            if (lws_is_final_fragment(wsi)) {
                std::string message;
                message.swap(s->rx);
                handler_.on_text(*s, message);
            }
            return 0;
        }

        case LWS_CALLBACK_SERVER_WRITEABLE: {
            session::Session *s = data->session;
            if (s == nullptr) return -1;
            if (const auto &close = s->close_request()) {
                std::string reason = close->reason.substr(0, 120);
                lws_close_reason(wsi, static_cast<enum lws_close_status>(close->code),
                                 reinterpret_cast<unsigned char *>(reason.data()), reason.size());
                return -1;
            }
            if (s->queue().empty()) return 0;
            // One frame per callback, as lws expects; ask again while more wait.
            const net::Frame &frame = s->queue().front();
            size_t n = frame->size() - kFrameHeadroom;
            auto *payload = reinterpret_cast<unsigned char *>(const_cast<char *>(frame->data())) + kFrameHeadroom;
            if (lws_write(wsi, payload, n, LWS_WRITE_TEXT) < static_cast<int>(n)) return -1;
            s->queue().pop();
            if (!s->queue().empty()) lws_callback_on_writable(wsi);
            return 0;
        }

        case LWS_CALLBACK_CLOSED: {
            if (data->session != nullptr) {
                handler_.on_closed(*data->session);
                data->session = nullptr;
                counters_.sessions_closed.fetch_add(1);
            }
            return 0;
        }

        default: return 0;
    }
}

}  // namespace livesync::net
