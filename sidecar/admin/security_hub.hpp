// The lws side of the security layer that spans sessions: answers coming back from
// SecurityStore (client-id claims, the shared ban list, activity reports) and from the
// control stream (kicks, bans, replaces) are queued here by their threads and applied
// on the service thread in drain(); and the admin HTTP API (/v1/admin/*) is served from
// here (bodies collected, answers that need Redis sent when they arrive).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "sidecar/admin/admin_api.hpp"
#include "sidecar/admin/client_handover.hpp"
#include "sidecar/admin/control_reader.hpp"
#include "sidecar/session/gatekeeper.hpp"
#include "sidecar/auth/security_store.hpp"
#include "sidecar/session/frame_handler.hpp"

struct lws;

namespace livesync::admin {

struct HubConfig {
    std::string sidecar_id;
    std::string admin_token;  // empty: /v1/admin/* answers 404
    unsigned shard = 0;       // the service thread this hub serves (in the low bits of its tickets)
};

// One per service thread (net/server_group.hpp): each acts on its thread's sessions;
// control commands reach every hub, store answers the hub whose session or ticket they
// name (SecurityLayer routes them), and an admin request that concerns every session
// (list, kick, ban) is gathered from every thread's hub before it is answered.
class SecurityHub {
public:
    using Respond = std::function<int(struct lws *, http::HttpResponse, bool close_after)>;
    // Runs part on every service thread's hub (each on its thread), then done with the
    // results (on any thread).
    using Gather = std::function<void(std::function<std::string(SecurityHub &)> part,
                                      std::function<void(std::vector<std::string>)> done)>;

    SecurityHub(HubConfig config, session::Gatekeeper &gate, sidecar::auth::SecurityStore *store,
                ops::Counters &counters, sidecar::auth::AuditSink &audit);

    // Called by the server before run(): what drain() and the admin API act on.
    // address_of: the client's address of a connection (the peer, or what a trusted
    // proxy forwarded), for admin-token failures and the audit log.
    void bind(session::SessionTable &sessions, session::FrameHandler &handler, Respond respond,
              std::function<void()> wake, std::function<std::string(struct lws *)> address_of);

    sidecar::auth::OwnershipClaims *ownership() { return store_; }
    // Set before run() when there are service threads: admin lists, kicks and bans then
    // count every thread's sessions. Without it, only this hub's.
    void set_gather(Gather gather) { gather_ = std::move(gather); }

    // Thread-safe: queue an answer or a control command and wake the service thread.
    void push(sidecar::auth::StoreResult result);
    void push(ControlCommand command);

    // Service thread.
    void drain();
    bool refuse_connection(const std::string &address);
    static bool owns_path(std::string_view path) { return path.substr(0, kAdminPrefix.size()) == kAdminPrefix; }
    int on_request(struct lws *wsi, std::string_view path);
    bool collecting(struct lws *wsi) const { return bodies_.count(wsi) != 0; }
    int on_body(struct lws *wsi, const char *data, size_t len);
    int on_body_complete(struct lws *wsi);
    void on_http_closed(struct lws *wsi);

    // Closes the matching sessions held here; returns how many.
    size_t kick(const ControlCommand &command);

private:
    struct Request {
        std::string method;
        std::string path;
        std::optional<std::string> since;
        std::string body;
    };
    int answer(struct lws *wsi, const Request &request);
    uint64_t new_ticket() { return (next_ticket_++ << session::kShardBits) | config_.shard; }
    // Runs part on every thread's hub and answers wsi with finish(results) when all did
    // (at once, on this thread only, without a gather).
    int answer_across(struct lws *wsi, std::function<std::string(SecurityHub &)> part,
                      std::function<http::HttpResponse(std::vector<std::string>)> finish, bool close_after);
    void apply(ControlCommand &command);
    void on_claim(sidecar::auth::ClaimResult &claim);
    // A replace entry: closes the session of its client id here if that one is older.
    void replace(const ControlCommand &command);
    void close_replaced(session::Session &s, const std::string &holder, uint64_t generation);

    HubConfig config_;
    session::Gatekeeper &gate_;
    sidecar::auth::SecurityStore *store_;
    ops::Counters &counters_;
    sidecar::auth::AuditSink &audit_;
    session::SessionTable *sessions_ = nullptr;
    session::FrameHandler *handler_ = nullptr;
    Respond respond_;
    std::function<void()> wake_;
    std::function<std::string(struct lws *)> address_of_;
    Gather gather_;

    std::mutex mutex_;
    std::deque<std::variant<sidecar::auth::StoreResult, ControlCommand>> inbox_;  // guarded by mutex_

    RecentReplaces recent_replaces_;

    std::unordered_map<struct lws *, Request> bodies_;       // admin POSTs being received
    std::unordered_map<uint64_t, struct lws *> waiting_;     // ticket → request awaiting Redis
    std::unordered_map<struct lws *, uint64_t> ticket_of_;
    uint64_t next_ticket_ = 1;
};

}  // namespace livesync::admin
