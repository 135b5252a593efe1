// The plain-HTTP side of a service thread (Server::on_http): ops routes (/healthz,
// /readyz, /metrics, the session list), the presence endpoint the registry sweep asks,
// and the admin API handed to the thread's security hub.
#include <libwebsockets.h>

#include <cstdlib>
#include <string>

#include "sidecar/http/ops_routes.hpp"
#include "sidecar/http/presence.hpp"
#include "sidecar/net/request_header.hpp"
#include "sidecar/net/server.hpp"

namespace livesync::net {

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

int Server::respond_http(struct lws *wsi, http::HttpResponse response, bool close_after) {
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof headers - 1;
    if (lws_add_http_common_headers(wsi, response.status, response.content_type.c_str(), response.body.size(), &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    http_pending_[wsi] = std::move(response);
    http_close_after_[wsi] = close_after;
    lws_callback_on_writable(wsi);
    return 0;
}

int Server::begin_presence(struct lws *wsi, bool allowed) {
    std::string length_text = request_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    char *rest = nullptr;
    unsigned long long length = std::strtoull(length_text.c_str(), &rest, 10);
    if (length_text.empty() || *rest != '\0')
        return respond_http(wsi, http::http_error(411, "length_required", "send the body with a Content-Length"), true);
    if (length > http::kMaxPresenceBodyBytes) return respond_http(wsi, http::presence_body_too_large(), true);
    if (http_bodies_.size() >= http::kMaxPresenceInFlight)
        return respond_http(wsi, http::http_error(503, "busy", "too many presence requests at once; retry"), true);
    // Without a body lws never calls HTTP_BODY_COMPLETION: answer (400 or 401) now.
    if (length == 0) return respond_http(wsi, allowed ? http::answer_presence("", sessions_) : http::presence_unauthorized(), false);
    // A request without the presence token is read to its end like any other (closing
    // with its body unread would reset the connection before the 401 is read), then 401.
    std::string &body = http_bodies_[wsi];
    if (allowed) body.reserve(static_cast<size_t>(length));
    else presence_denied_.insert(wsi);
    return 0;
}

int Server::on_http(struct lws *wsi, int reason, void *user, void *in, size_t len) {
    switch (reason) {
        case LWS_CALLBACK_HTTP: {
            bool is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
            std::string path = in ? static_cast<const char *>(in) : "";
            if (hub_ && admin::SecurityHub::owns_path(path)) return hub_->on_request(wsi, path);
            bool presence_allowed = path.rfind("/v1/clients/", 0) == 0 &&
                                    http::presence_authorized(config_.presence_token,
                                                        request_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION));
            if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 && path == http::kPresencePath)
                return begin_presence(wsi, presence_allowed);
            http::OpsEndpoints ops{[this] { return http::readiness_response(counters_, live_); },
                             [this] { return http::metrics_response(counters_, live_, sessions_); }};
            http::HttpResponse response =
                http::route_http(is_get ? "GET" : "OTHER", path, sessions_, config_.sidecar_id, ops, presence_allowed);
            return respond_http(wsi, std::move(response), !is_get);
        }
        case LWS_CALLBACK_HTTP_BODY: {
            if (hub_ && hub_->collecting(wsi)) return hub_->on_body(wsi, static_cast<const char *>(in), len);
            auto it = http_bodies_.find(wsi);
            if (it == http_bodies_.end()) return 0;
            // lws stops at Content-Length, which begin_presence() bounded.
            if (it->second.size() + len > http::kMaxPresenceBodyBytes) {
                http_bodies_.erase(it);
                presence_denied_.erase(wsi);
                return respond_http(wsi, http::presence_body_too_large(), true);
            }
            if (!presence_denied_.count(wsi)) it->second.append(static_cast<const char *>(in), len);
            return 0;
        }
        case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
            if (hub_ && hub_->collecting(wsi)) return hub_->on_body_complete(wsi);
            auto it = http_bodies_.find(wsi);
            if (it == http_bodies_.end()) return 0;
            std::string body = std::move(it->second);
            http_bodies_.erase(it);
            if (presence_denied_.erase(wsi)) return respond_http(wsi, http::presence_unauthorized(), false);
            return respond_http(wsi, http::answer_presence(body, sessions_), false);
        }
        case LWS_CALLBACK_HTTP_WRITEABLE: return write_http(wsi);
        case LWS_CALLBACK_CLOSED_HTTP:
            if (hub_) hub_->on_http_closed(wsi);
            http_pending_.erase(wsi);
            http_close_after_.erase(wsi);
            http_bodies_.erase(wsi);
            presence_denied_.erase(wsi);
            return 0;
        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            // A WebSocket upgrade that asked for neither livesync.v1.json nor .msgpack.
            return 1;
        default: return lws_callback_http_dummy(wsi, static_cast<enum lws_callback_reasons>(reason), user, in, len);
    }
}

}  // namespace livesync::net
