#include "sidecar/net/server.hpp"

#include <libwebsockets.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "sidecar/auth/connection_token.hpp"
#include "sidecar/http/ops_routes.hpp"
#include "sidecar/net/request_header.hpp"
#include "sidecar/ops/metrics.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"
#include "sidecar/registry/client_record.hpp"
#include "sidecar/stream/batch_applier.hpp"

namespace livesync::net {

static_assert(LWS_PRE <= protocol::kFrameHeadroom, "lws writes the frame header into the frame's headroom");

namespace {

int64_t unix_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr size_t kEventsPerWake = 64;  // bound the work per wake-up so sockets stay served
constexpr size_t kBytesPerWake = 1u << 20;  // ...and the encoded stream bytes fanned out per wake-up
// A resuming (or catching-up) session asks for its next replay page once its send queue
// is below this; live fan-out waits for sessions above it (kPaceWaitMs).
constexpr size_t kReplayLowWaterBytes = 256u << 10;
// How long live fan-out waits for half of the sessions that got the last batches to
// drain below the low-water mark before it takes the next ones (frames are shared, so
// sessions fed together cost one copy; one that falls behind is fed privately from the
// stream). A reader keeping up drains a 1 MiB part in a few ms; this bounds how long
// slow ones hold the others back: once, until they drained again.
constexpr int64_t kPaceWaitMs = 100;
// Frames above this go out as WebSocket fragments of this size, one per writeable
// callback: lws copies what the kernel did not take of a write, so a whole 1 MiB frame
// written to 1,000 slow sockets could cost 1,000 copies.
constexpr size_t kFragmentBytes = 64u << 10;

struct SyncSessionData {
    session::Session *session;  // owned by SessionTable; nullptr before ESTABLISHED
    bool close_started;         // the session's close request was handed to lws
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
// Both encodings of the client protocol share one callback; the session remembers which.
// tx_packet_size: lws sends at most this much of one lws_write() at once and copies the
// rest per connection for later (0 means its 4 KiB default: a 10 KB frame was three
// send()s and a copy per session). Above a fragment, every frame goes out in one send().
constexpr size_t kTxPacketBytes = 128u << 10;
static_assert(kTxPacketBytes > kFragmentBytes + LWS_PRE);
const struct lws_protocols kProtocols[] = {
    {"http", http_trampoline, 0, 0, 0, nullptr, 0},
    {protocol::kJsonSubprotocol, sync_trampoline, sizeof(SyncSessionData), 0, 0, nullptr, kTxPacketBytes},
    {protocol::kMsgpackSubprotocol, sync_trampoline, sizeof(SyncSessionData), 0, 0, nullptr, kTxPacketBytes},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};
const struct lws_protocols *const kServiceProtocol = &kProtocols[1];  // drains the event queue

void on_grace_over(lws_sorted_usec_list_t *) {}

}  // namespace

Server::Server(ServerConfig config, ShardLinks links, stream::EventQueue &events, registry::RegistrySink &registry,
               ops::Counters &counters, session::Gatekeeper &gate)
    : config_(std::move(config)), links_(std::move(links)), events_(events), counters_(counters),
      sessions_(links_.shard, links_.directory,
                [this](uint64_t serial) {
                    if (links_.post)
                        links_.post(session::shard_of_serial(serial),
                                    [serial](Server &other) { other.close_replaced(serial); });
                }),
      gate_(gate),
      handler_(config_.sidecar_id, sessions_, live_, registry, gate),
      replay_(sessions_, live_, counters_,
              [this](stream::ReplayRequest r) {
                  if (replay_reader_) replay_reader_->request(r);
              },
              std::min<size_t>(kReplayLowWaterBytes, config_.max_send_queue_bytes / 4)),
      snapshots_(sessions_, live_, replay_, nullptr,
                 std::min<size_t>(kReplayLowWaterBytes, config_.max_send_queue_bytes / 4)) {
    handler_.set_resumer(&replay_);
    replay_.on_config_change([this](session::Session &s, const rules::ConfigVersion &config) {
        counters_.subscriptions_revoked.fetch_add(handler_.end_lost_subscriptions(s, config.tables, config.rules));
    });
    handler_.set_snapshots(&snapshots_);
    snapshots_.set_counters(&counters_);
    snapshots_.set_shard(links_.shard);
    snapshots_.set_share_bytes(config_.snapshot_share_bytes);
    snapshots_.set_gather(config_.snapshot_gather_ms, [this](int64_t delay_ms) {
        lws_sul_schedule(context_, 0, &gather_timer_.sul, on_gather_timer,
                         static_cast<lws_usec_t>(delay_ms) * LWS_US_PER_MS);
    });
    snapshots_.set_pacing(config_.snapshot_yield_us, [this](int64_t delay_us) {
        lws_sul_schedule(context_, 0, &snapshot_pace_timer_.sul, on_snapshot_pace_timer,
                         static_cast<lws_usec_t>(delay_us));
    });
    // A quarter of the bound stays free for the entry being fanned out when the mark is
    // passed (livesync.batch_max_bytes, 1 MiB, is about 1.3 MiB of JSON frames).
    pacing_.high_water_bytes = config_.max_send_queue_bytes / 4 * 3;
    pacing_.low_water_bytes = std::min<size_t>(kReplayLowWaterBytes, config_.max_send_queue_bytes / 4);
    pacing_.fall_behind = [this](session::Session &s, common::StreamId through) { replay_.begin_catch_up(s, through); };
    pacing_.busy = &busy_sessions_;
    fragment_.reserve(LWS_PRE + kFragmentBytes);
}

void Server::set_security_hub(admin::SecurityHub *hub) {
    hub_ = hub;
    handler_.set_ownership(hub ? hub->ownership() : nullptr);
    if (!hub) return;
    hub->bind(sessions_, handler_,
              [this](struct lws *wsi, http::HttpResponse response, bool close_after) {
                  return respond_http(wsi, std::move(response), close_after);
              },
              [this] { wake(); }, [this](struct lws *wsi) { return client_address(wsi); });
}

void Server::deliver_replay_page(stream::ReplayPage page) {
    replay_inbox_.push(std::move(page));
    wake();
}

void Server::deliver_snapshot_event(snapshot::SnapshotEvent event) {
    snapshot_inbox_.push(std::move(event));
    wake();
}

Server::~Server() {
    if (context_) lws_context_destroy(context_);
    for (int fd : adopt_inbox_) close(fd);
}

void Server::adopt(int fd) {
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        adopt_inbox_.push_back(fd);
    }
    wake();
}

void Server::post(std::function<void(Server &)> task) {
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        task_inbox_.push_back(std::move(task));
    }
    wake();
}

void Server::drain_inbox() {
    std::vector<int> fds;
    std::vector<std::function<void(Server &)>> tasks;
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        fds.swap(adopt_inbox_);
        tasks.swap(task_inbox_);
    }
    struct lws_vhost *vhost = lws_get_vhost_by_name(context_, "default");
    for (int fd : fds) {
        if (stopping_ || vhost == nullptr) {
            close(fd);
            continue;
        }
        lws_sock_file_fd_type desc;
        desc.sockfd = fd;
        int type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;
        if (!config_.tls_cert.empty()) type |= LWS_ADOPT_ALLOW_SSL;
        // On failure lws closed the socket.
        if (!lws_adopt_descriptor_vhost(vhost, static_cast<lws_adoption_type>(type), desc, nullptr, nullptr))
            ops::warn("could not take over an accepted connection", {{"shard", links_.shard}});
    }
    for (auto &task : tasks) task(*this);
}

void Server::close_replaced(uint64_t serial) {
    session::Session *s = sessions_.find_serial(serial);
    if (!s || s->close_request()) return;
    ops::info("client connected again: closing its older session",
              {{"client_id", s->client_id()}, {"address", s->address()}});
    s->request_close(session::kCloseReplaced, session::kReplacedReason);
}

bool Server::listen(std::string *error) {
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = kProtocols;
    info.user = this;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (!config_.tls_cert.empty()) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = config_.tls_cert.c_str();
        info.ssl_private_key_filepath = config_.tls_key.c_str();
        // HTTP/1.1 only: sessions are written one frame per WRITEABLE on their own
        // connection, which HTTP/2's WebSocket-over-stream mode would not give them.
        info.alpn = "http/1.1";
    }
    context_ = lws_create_context(&info);
    if (context_ == nullptr) {
        *error = "cannot create the libwebsockets context of service thread " + std::to_string(links_.shard);
        return false;
    }
    sweep_timer_.server = this;
    pace_timer_.server = this;
    gather_timer_.server = this;
    snapshot_pace_timer_.server = this;
    lws_sul_schedule(context_, 0, &sweep_timer_.sul, on_sweep, LWS_US_PER_SEC);
    return true;
}

void Server::on_pace_timer(lws_sorted_usec_list_t *sul) {
    lws_container_of(sul, PaceTimer, sul)->server->drain_events();
}

void Server::on_gather_timer(lws_sorted_usec_list_t *sul) {
    lws_container_of(sul, GatherTimer, sul)->server->snapshots_.on_gather_timer(session::steady_now_ms());
}

void Server::on_snapshot_pace_timer(lws_sorted_usec_list_t *sul) {
    lws_container_of(sul, SnapshotPaceTimer, sul)->server->snapshots_.on_pace_timer();
}

void Server::close_stalled_sessions(int64_t now_ms) {
    sessions_.for_each([&](session::Session &s) {
        if (s.queue().empty() || s.close_request() || now_ms - s.queue_progress_ms < config_.send_stall_timeout_ms)
            return;
        counters_.send_queue_stalls.fetch_add(1);
        ops::warn("session closed: send queue stalled",
                  {{"client_id", s.greeted() ? s.client_id() : std::string()},
                   {"address", s.address()},
                   {"queued_bytes", static_cast<uint64_t>(s.queue().bytes())}});
        s.request_close(1008, std::string(session::kStalledReason));
    });
}

void Server::on_sweep(lws_sorted_usec_list_t *sul) {
    auto *timer = lws_container_of(sul, SweepTimer, sul);
    Server &server = *timer->server;
    int64_t now_ms = registry::unix_ms_now();
    server.gate_.sweep(server.sessions_, now_ms / 1000, now_ms);
    server.close_stalled_sessions(session::steady_now_ms());
    server.replay_.tick();
    server.snapshots_.tick();
    lws_sul_schedule(server.context_, 0, &timer->sul, on_sweep, LWS_US_PER_SEC);
}

void Server::wake() {
    if (context_) lws_cancel_service(context_);
}

void Server::reload_tls() {
    tls_reload_requested_.store(true);
    wake();
}

std::string Server::client_address(struct lws *wsi) const {
    char peer[128] = "";
    lws_get_peer_simple(wsi, peer, sizeof peer);
    if (config_.trusted_proxies.empty()) return peer;
    return config_.trusted_proxies.client_address(peer, request_header(wsi, WSI_TOKEN_X_FORWARDED_FOR));
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
            // (The group closed the listening socket already: a new livesyncd started
            // right after SIGTERM binds the port at once while this one says goodbye.)
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

bool Server::waiting_for_busy_sessions() {
    auto still_busy = [&](uint64_t serial) {
        session::Session *s = sessions_.find_serial(serial);
        return s && !s->close_request() && !s->replay.active && s->queue().bytes() >= pacing_.low_water_bytes;
    };
    busy_sessions_.erase(std::remove_if(busy_sessions_.begin(), busy_sessions_.end(),
                                        [&](uint64_t serial) { return !still_busy(serial); }),
                         busy_sessions_.end());
    int64_t now = session::steady_now_ms();
    if (busy_since_ms_ == 0) {
        busy_since_ms_ = now;
        busy_at_start_ = busy_sessions_.size();
    }
    // The pace is the median reader's: once half of the sessions that got the last
    // batches drained, the next ones go out, and those still behind fill their queues
    // (with frames the others share) until they fall behind at the high-water mark.
    if (busy_sessions_.empty() || busy_sessions_.size() * 2 <= busy_at_start_) {
        busy_sessions_.clear();
        return false;
    }
    if (now - busy_since_ms_ >= kPaceWaitMs) {
        // Nobody (or too few) drained in time: nobody waits for these again until they
        // drained.
        for (uint64_t serial : busy_sessions_)
            if (session::Session *s = sessions_.find_serial(serial)) s->pace_excused = true;
        busy_sessions_.clear();
        return false;
    }
    // Woken when one of them drains (WRITEABLE) or when the wait is over.
    lws_sul_schedule(context_, 0, &pace_timer_.sul, on_pace_timer,
                     static_cast<lws_usec_t>(kPaceWaitMs - (now - busy_since_ms_)) * LWS_US_PER_MS);
    return true;
}

void Server::drain_events() {
    // Replay pages first: they do not add to what live fan-out waits for.
    for (stream::ReplayPage &page : replay_inbox_.take()) {
        replay_.on_page(page);
        page.entries.clear();
    }
    bool more = fan_out_live();
    // Then snapshot events, at most one of rows (about 256 KiB) per turn: live changes to
    // other sessions do not wait behind a queue of snapshot pages, and the sockets are
    // served between two of them.
    for (;;) {
        bool others = false;
        std::optional<snapshot::SnapshotEvent> event = snapshot_inbox_.pop(&others);
        if (!event) break;
        bool rows = event->kind == snapshot::SnapshotEvent::Kind::Rows;
        snapshots_.on_event(*event);
        if (rows || !others) {
            more = more || others;
            break;
        }
    }
    if (more) wake();
}

bool Server::fan_out_live() {
    if (waiting_for_busy_sessions()) return false;
    busy_since_ms_ = 0;
    lws_sul_cancel(&pace_timer_.sul);
    std::vector<stream::EventQueue::Shared> batch;
    bool more = events_.pop_some(kEventsPerWake, batch, kBytesPerWake, links_.shard);
    for (const stream::EventQueue::Shared &event : batch) {
        if (stream::apply_event(*event, live_, sessions_, counters_, &pacing_, links_.shard == 0))
            counters_.subscriptions_revoked.fetch_add(handler_.end_lost_subscriptions());
        if (const auto *entry = std::get_if<stream::StreamBatch>(event.get())) {
            const auto &txns = entry->batch.transactions;
            for (const common::Transaction &txn : txns) snapshots_.record_commit(txn.xid, txn.lsn);
            // How long the entry's oldest transaction took from its commit to here: the
            // snapshot pacer's signal.
            if (!txns.empty() && txns.front().commit_sec > 0)
                snapshots_.record_live_delay(unix_now_us() - txns.front().commit_unix_us());
            int64_t commit_us = txns.empty() ? 0 : txns.back().commit_unix_us();
            // Once per entry, not once per thread: the first thread's view.
            if (links_.shard == 0) http::record_fanout(counters_, entry->received_at, commit_us);
        }
    }
    return more;
}

bool Server::write_front(struct lws *wsi, session::Session &s) {
    const protocol::Frame &frame = s.queue().front();
    size_t total = frame->size() - protocol::kFrameHeadroom;
    size_t done = s.queue().front_written();
    bool msgpack = s.encoding() == protocol::Encoding::Msgpack;
    auto opcode = msgpack ? LWS_WRITE_BINARY : LWS_WRITE_TEXT;
    if (done == 0 && total <= kFragmentBytes) {
        // The whole frame in place: lws writes its header into the frame's headroom
        // (the same bytes for every session sharing the frame).
        auto *payload = reinterpret_cast<unsigned char *>(const_cast<char *>(frame->data())) + protocol::kFrameHeadroom;
        if (lws_write(wsi, payload, total, opcode) < static_cast<int>(total)) return false;
        s.queue().advance_front(total);
        return true;
    }
    size_t n = std::min(kFragmentBytes, total - done);
    fragment_.assign(LWS_PRE, '\0');
    fragment_.append(frame->data() + protocol::kFrameHeadroom + done, n);
    auto flags = lws_write_ws_flags(opcode, done == 0, done + n == total);
    auto *payload = reinterpret_cast<unsigned char *>(fragment_.data()) + LWS_PRE;
    if (lws_write(wsi, payload, n, static_cast<enum lws_write_protocol>(flags)) < static_cast<int>(n)) return false;
    s.queue().advance_front(n);
    return true;
}

int Server::on_sync(struct lws *wsi, int reason, void *user, void *in, size_t len) {
    auto *data = static_cast<SyncSessionData *>(user);
    switch (reason) {
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            // lws tells every protocol; the queue is drained once per wake.
            if (std::strcmp(lws_get_protocol(wsi)->name, kServiceProtocol->name) != 0) return 0;
            if (stop_requested_.load() && !stopping_) begin_shutdown();
            drain_inbox();
            if (tls_reload_requested_.exchange(false) && !config_.tls_cert.empty()) {
                // Reads the two files again (as lws did at start); the caller checked them.
                lws_tls_cert_updated(context_, config_.tls_cert.c_str(), config_.tls_key.c_str(), nullptr, 0, nullptr,
                                     0);
                ops::info("TLS certificate reloaded", {{"cert", config_.tls_cert}});
            }
            if (!stopping_) drain_events();
            if (!stopping_ && hub_) hub_->drain();
            return 0;

        case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
            if (stopping_) return 1;
            if (hub_) {
                // A banned address is refused before the handshake completes.
                if (hub_->refuse_connection(client_address(wsi))) return 1;
            }
            return request_header(wsi, WSI_TOKEN_GET_URI) == http::kSyncPath ? 0 : 1;

        case LWS_CALLBACK_ESTABLISHED: {
            session::Session &s = sessions_.open(wsi, client_address(wsi), registry::unix_ms_now(), config_.max_send_queue_bytes,
                                                 [wsi] { lws_callback_on_writable(wsi); });
            data->session = &s;
            data->close_started = false;
            s.set_encoding(protocol::encoding_of_subprotocol(lws_get_protocol(wsi)->name));
            counters_.sessions_opened.fetch_add(1);
            gate_.on_connect(s, sidecar::auth::connection_token(wsi), registry::unix_ms_now() / 1000);
            return 0;
        }

        case LWS_CALLBACK_RECEIVE: {
            session::Session *s = data->session;
            if (s == nullptr) return -1;
            if (s->close_request()) return 0;  // closing: input is ignored
            bool msgpack = s->encoding() == protocol::Encoding::Msgpack;
            // Closes go through request_close() like every other, so that the client's
            // remaining input is discarded while the close frame goes out (WRITEABLE).
            if (lws_frame_is_binary(wsi) != msgpack) {
                s->request_close(LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                                 msgpack ? "text frames are not accepted on livesync.v1.msgpack"
                                         : "binary frames are not accepted on livesync.v1.json");
                return 0;
            }
            if (lws_is_first_fragment(wsi)) s->rx.clear();
            if (s->rx.size() + len > config_.max_message_bytes) {
                std::string().swap(s->rx);
                s->request_close(LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message over 1 MiB");
                return 0;
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
                // lws sends the close frame, then waits for the client's close (at most
                // 5 s: PENDING_TIMEOUT_CLOSE_ACK) and drops its input meanwhile. Asking
                // for the close again would make lws close the socket at once, with the
                // client's unread messages still in the receive buffer: the kernel then
                // resets the connection and the client loses the close frame (1006).
                if (data->close_started) return 0;
                data->close_started = true;
                std::string reason = close->reason.substr(0, 120);
                lws_close_reason(wsi, static_cast<enum lws_close_status>(close->code),
                                 reinterpret_cast<unsigned char *>(reason.data()), reason.size());
                return -1;
            }
            if (s->queue().empty()) return 0;
            // One frame, or one fragment of a big one, per callback, as lws expects; ask
            // again while more wait.
            if (!write_front(wsi, *s)) return -1;
            s->queue_progress_ms = session::steady_now_ms();
            const protocol::Frame &frame = s->queue().front();
            size_t n = frame->size() - protocol::kFrameHeadroom;
            if (s->queue().front_written() < n) {
                lws_callback_on_writable(wsi);
                return 0;
            }
            counters_.frames_sent.fetch_add(1, std::memory_order_relaxed);
            counters_.bytes_sent.fetch_add(n, std::memory_order_relaxed);
            if (!frame->error_code.empty()) counters_.errors_by_code.count(frame->error_code);
            s->queue().pop();
            if (!s->queue().empty()) lws_callback_on_writable(wsi);
            if (s->queue().bytes() < pacing_.low_water_bytes) {
                s->pace_excused = false;
                if (!busy_sessions_.empty()) wake();
            }
            replay_.on_drained(*s);
            snapshots_.on_drained(*s);
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
