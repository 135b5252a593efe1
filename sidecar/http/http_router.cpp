#include "sidecar/http/http_router.hpp"

#include "common/change_batch.hpp"
#include "sidecar/http/presence.hpp"

namespace livesync::http {

HttpResponse http_error(unsigned status, std::string_view code, std::string_view message) {
    HttpResponse r{status, "{\"error\":"};
    common::append_json_string(r.body, code);
    r.body += ",\"message\":";
    common::append_json_string(r.body, message);
    r.body += '}';
    return r;
}

namespace {

constexpr std::string_view kClientsPrefix = "/v1/clients/";

HttpResponse client_presence(const std::string &client_id, const session::SessionTable &sessions,
                             const std::string &sidecar_id) {
    if (!sessions.client_connected(client_id)) {
        HttpResponse r{410, "{\"error\":\"gone\",\"client_id\":"};
        common::append_json_string(r.body, client_id);
        r.body += '}';
        return r;
    }
    HttpResponse r{200, "{\"client_id\":"};
    common::append_json_string(r.body, client_id);
    r.body += ",\"sidecar\":";
    common::append_json_string(r.body, sidecar_id);
    r.body += '}';
    return r;
}

}  // namespace

HttpResponse route_http(std::string_view method, std::string_view path, const session::SessionTable &sessions,
                        const std::string &sidecar_id, const OpsEndpoints &ops, bool presence_allowed) {
    bool client = path.substr(0, kClientsPrefix.size()) == kClientsPrefix && path.size() > kClientsPrefix.size() &&
                  path.find('/', kClientsPrefix.size()) == std::string_view::npos;
    bool known = path == "/healthz" || path == kSyncPath || (path == "/readyz" && ops.readiness) ||
                 (path == "/metrics" && ops.metrics) || client;
    if (!known) return http_error(404, "not_found", "no such path");
    if (client && !presence_allowed) return presence_unauthorized();
    if (method != "GET") return http_error(405, "method_not_allowed", "only GET is supported");
    if (path == "/healthz") return HttpResponse{200, "{\"status\":\"ok\"}"};
    if (path == "/readyz") return ops.readiness();
    if (path == "/metrics") return ops.metrics();
    if (path == kSyncPath)
        return http_error(426, "upgrade_required", "open a WebSocket with subprotocol livesync.v1.json");
    return client_presence(std::string(path.substr(kClientsPrefix.size())), sessions, sidecar_id);
}

}  // namespace livesync::http
