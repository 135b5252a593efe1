// The lws context of livesyncd and its service loop. One thread (the one calling run())
// services every connection; the stream reader wakes it with lws_cancel_service() and
// its events are applied in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "sidecar/net/http_router.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/registry/registry_writer.hpp"
#include "sidecar/session/frame_handler.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/stream/live_state.hpp"
#include "sidecar/stream/stream_event.hpp"

struct lws;
struct lws_context;

namespace livesync::net {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string sidecar_id;
    size_t max_send_queue_bytes = session::kDefaultSendQueueBytes;
    size_t max_message_bytes = 1u << 20;
    int shutdown_grace_ms = 2000;
};

class Server {
public:
    Server(ServerConfig config, stream::EventQueue &events, registry::RegistrySink &registry,
           ops::Counters &counters);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Creates the context and starts listening; false and *error on failure.
    bool listen(std::string *error);
    // Services connections until request_stop(), then closes every session with 1001
    // and returns once they are gone (or after the grace period).
    void run();
    // Thread-safe.
    void request_stop();
    // Thread-safe: makes the service thread drain the event queue.
    void wake();

    // lws entry points (static trampolines find the Server through the context user).
    int on_http(struct lws *wsi, int reason, void *user, void *in, size_t len);
    int on_sync(struct lws *wsi, int reason, void *user, void *in, size_t len);

private:
    void drain_events();
    void begin_shutdown();
    int write_http(struct lws *wsi);

    ServerConfig config_;
    stream::EventQueue &events_;
    ops::Counters &counters_;
    session::SessionTable sessions_;
    stream::LiveState live_;
    session::FrameHandler handler_;
    struct lws_context *context_ = nullptr;
    std::unordered_map<struct lws *, HttpResponse> http_pending_;  // response bodies awaiting HTTP_WRITEABLE
    std::unordered_map<struct lws *, bool> http_close_after_;       // close after the body (non-GET)
    std::atomic<bool> stop_requested_{false};
    bool stopping_ = false;
};

}  // namespace livesync::net
