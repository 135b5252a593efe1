// One service thread of livesyncd: an lws context and its loop, serving the connections
// the acceptor handed to it (net/server_group.hpp runs one per core). The thread calling
// run() owns the context, its sessions and its copy of the stream state; the stream
// reader wakes it with lws_cancel_service() and it takes every stream event (a shared,
// read-only copy: stream/stream_event.hpp) in LWS_CALLBACK_EVENT_WAIT_CANCELLED, as do
// connections handed over (adopt()) and tasks other threads post to it (post()).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sidecar/admin/security_hub.hpp"
#include "sidecar/session/gatekeeper.hpp"
#include "sidecar/net/client_address.hpp"
#include "sidecar/http/http_router.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/registry/registry_writer.hpp"
#include "sidecar/session/client_directory.hpp"
#include "sidecar/session/frame_handler.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/snapshot/snapshot_coordinator.hpp"
#include "sidecar/rules/live_state.hpp"
#include "sidecar/stream/replay.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/stream/replay_reader.hpp"
#include "sidecar/stream/stream_event.hpp"

#include <libwebsockets.h>

namespace livesync::net {

struct ServerConfig {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string sidecar_id;
    size_t max_send_queue_bytes = session::kDefaultSendQueueBytes;
    size_t max_message_bytes = 1u << 20;
    int64_t send_stall_timeout_ms = 30000;
    int shutdown_grace_ms = 2000;
    std::string tls_cert;  // both set: wss/https only
    std::string tls_key;
    TrustedProxies trusted_proxies;
    std::string presence_token;  // what /v1/clients/... ask for (presence.hpp); empty: nobody may ask
    int64_t snapshot_gather_ms = 0;  // --snapshot-gather-ms (SnapshotCoordinator::set_gather)
    size_t snapshot_share_bytes = 0;  // --snapshot-share-mb (SnapshotCoordinator::set_share_bytes)
    int64_t snapshot_yield_us = 0;  // --snapshot-yield-ms (SnapshotCoordinator::set_pacing); 0: off
};

class Server;

// What one service thread knows of the others (set up by ServerGroup).
struct ShardLinks {
    unsigned shard = 0;       // this thread's index, also its consumer index in the EventQueue
    session::ClientDirectory *directory = nullptr;  // client ids held on every thread
    // Runs task on the thread of that shard, soon, in the order posted (thread-safe).
    std::function<void(unsigned shard, std::function<void(Server &)> task)> post;
};

class Server {
public:
    Server(ServerConfig config, ShardLinks links, stream::EventQueue &events, registry::RegistrySink &registry,
           ops::Counters &counters, session::Gatekeeper &gate);
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    // Creates the context (it listens on nothing: the acceptor hands connections over);
    // false and *error on failure.
    bool listen(std::string *error);
    // Thread-safe: serve this accepted socket from now on (this thread owns it).
    void adopt(int fd);
    // Thread-safe: run task on this service thread.
    void post(std::function<void(Server &)> task);
    // This thread: closes the session with this serial here (a newer session of its client
    // id said hello on another thread).
    void close_replaced(uint64_t serial);
    unsigned shard() const { return links_.shard; }
    bool stop_requested() const { return stop_requested_.load(); }
    admin::SecurityHub *hub() { return hub_; }
    // Services connections until request_stop(), then closes every session with 1001
    // and returns once they are gone (or after the grace period).
    void run();
    // Thread-safe.
    void request_stop();
    // Thread-safe: makes the service thread drain the event queue.
    void wake();
    // Thread-safe: new connections get the certificate and key now in the configured
    // files (checked by the caller); open sessions keep theirs.
    void reload_tls();
    // The client's address for a connection: the peer, or what a trusted proxy forwarded.
    std::string client_address(struct lws *wsi) const;
    // Resume: where page requests go (set before run()), and where pages come back
    // (thread-safe; called on the replay reader's thread).
    void set_replay_reader(stream::ReplayReader *reader) { replay_reader_ = reader; }
    // Bans, client-id claims, kicks and the admin API (sidecar/admin); set before run().
    void set_security_hub(admin::SecurityHub *hub);
    void deliver_replay_page(stream::ReplayPage page);
    // Snapshots: where queries go (set before run(); without one, subscribes with a
    // snapshot are refused), and where their events come back (thread-safe).
    void set_snapshot_reader(snapshot::SnapshotQueries *reader) { snapshots_.set_reader(reader); }
    void deliver_snapshot_event(snapshot::SnapshotEvent event);

    // lws entry points (static trampolines find the Server through the context user).
    int on_http(struct lws *wsi, int reason, void *user, void *in, size_t len);
    int on_sync(struct lws *wsi, int reason, void *user, void *in, size_t len);

private:
    void drain_events();
    // Live fan-out of the next stream events (unless pacing waits); true when more wait.
    bool fan_out_live();
    // True while a session that got the last batches has not drained below the low-water
    // mark (live fan-out waits for it, at most kPaceWaitMs; then it falls behind).
    bool waiting_for_busy_sessions();
    void close_stalled_sessions(int64_t now_ms);
    // Writes the next piece of s's front frame: all of it, or a fragment of at most
    // kFragmentBytes. False when the connection failed.
    bool write_front(struct lws *wsi, session::Session &s);
    void begin_shutdown();
    int write_http(struct lws *wsi);
    // Sends headers now and the body from HTTP_WRITEABLE; 1 when the headers failed.
    int respond_http(struct lws *wsi, http::HttpResponse response, bool close_after);
    // POST /v1/clients/presence: checks Content-Length, then collects the body (or, not
    // allowed: reads it to its end and answers 401).
    int begin_presence(struct lws *wsi, bool allowed);

    // Adopts the handed-over sockets and runs the posted tasks (service thread).
    void drain_inbox();

    ServerConfig config_;
    ShardLinks links_;
    stream::EventQueue &events_;
    ops::Counters &counters_;
    session::SessionTable sessions_;
    rules::LiveState live_;
    session::Gatekeeper &gate_;
    session::FrameHandler handler_;
    // Security sweep (token expiry, hello timeout), once a second on the service thread.
    struct SweepTimer {
        lws_sorted_usec_list_t sul;
        Server *server;
    } sweep_timer_{};
    static void on_sweep(lws_sorted_usec_list_t *sul);
    stream::ReplayReader *replay_reader_ = nullptr;
    admin::SecurityHub *hub_ = nullptr;
    stream::ReplayInbox replay_inbox_;
    stream::ReplayCoordinator replay_;
    snapshot::SnapshotInbox snapshot_inbox_;
    snapshot::SnapshotCoordinator snapshots_;
    stream::Pacing pacing_;
    std::vector<uint64_t> busy_sessions_;  // serials (pacing_.busy)
    int64_t busy_since_ms_ = 0;
    size_t busy_at_start_ = 0;
    struct PaceTimer {
        lws_sorted_usec_list_t sul;
        Server *server;
    } pace_timer_{};
    static void on_pace_timer(lws_sorted_usec_list_t *sul);
    // Ends the snapshot queries' gathering windows (SnapshotCoordinator::set_gather).
    struct GatherTimer {
        lws_sorted_usec_list_t sul;
        Server *server;
    } gather_timer_{};
    static void on_gather_timer(lws_sorted_usec_list_t *sul);
    // Goes on with snapshot work that waited for the pacer (SnapshotCoordinator::set_pacing).
    struct SnapshotPaceTimer {
        lws_sorted_usec_list_t sul;
        Server *server;
    } snapshot_pace_timer_{};
    static void on_snapshot_pace_timer(lws_sorted_usec_list_t *sul);
    std::string fragment_;  // LWS_PRE + one fragment: a fragment is written from a copy
    struct lws_context *context_ = nullptr;
    std::unordered_map<struct lws *, http::HttpResponse> http_pending_;  // response bodies awaiting HTTP_WRITEABLE
    std::unordered_map<struct lws *, bool> http_close_after_;       // close after the body (non-GET)
    std::unordered_map<struct lws *, std::string> http_bodies_;    // POST bodies being received (bounded)
    std::unordered_set<struct lws *> presence_denied_;             // of those: without the presence token
    std::mutex inbox_mutex_;
    std::vector<int> adopt_inbox_;                              // guarded by inbox_mutex_
    std::vector<std::function<void(Server &)>> task_inbox_;     // guarded by inbox_mutex_
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> tls_reload_requested_{false};
    bool stopping_ = false;
};

}  // namespace livesync::net
