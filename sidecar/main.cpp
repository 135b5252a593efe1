// livesyncd: reads the livesync change stream from Redis and fans committed changes
// out to WebSocket clients. Threads: the service threads (each an lws context serving its
// share of the sessions, net/server_group.hpp) and their acceptor, the stream reader, the
// replay and snapshot readers, the Redis writers; this thread only waits for signals:
// SIGTERM/SIGINT stop, SIGHUP re-reads the TLS certificate and key.
#include <malloc.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <pthread.h>
#include <thread>

#include "common/redis_keys.hpp"

#include "sidecar/security_layer.hpp"
#include "sidecar/auth/audit.hpp"
#include "sidecar/auth/authenticator.hpp"
#include "sidecar/session/gatekeeper.hpp"
#include "sidecar/daemon_options.hpp"
#include "sidecar/net/server_group.hpp"
#include "sidecar/net/tls_files.hpp"
#include "sidecar/ops/counters.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/registry/registry_writer.hpp"
#include "sidecar/stream/replay_reader.hpp"
#include "sidecar/snapshot/snapshot_reader.hpp"
#include "sidecar/stream/stream_reader.hpp"

using namespace livesync;

int main(int argc, char **argv) {
    // Frames of 64 KiB-1 MiB are built and freed all the time (snapshot pages, fan-out):
    // with glibc's defaults each one is an mmap/munmap or a heap trim and regrowth, and the
    // page faults cost more than encoding the rows (perf: 55% of a snapshot's CPU). Keep
    // up to 32 MiB of freed memory for reuse instead.
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    std::vector<std::string> args(argv + 1, argv + argc);
    sidecar::ParsedOptions parsed = sidecar::parse_daemon_options(args, [](const char *n) { return std::getenv(n); });
    if (std::holds_alternative<sidecar::ShowHelp>(parsed)) {
        std::fputs(sidecar::daemon_usage().c_str(), stdout);
        return 0;
    }
    if (auto *err = std::get_if<sidecar::OptionsError>(&parsed)) {
        std::fprintf(stderr, "livesyncd: %s\n%s", err->message.c_str(), sidecar::daemon_usage().c_str());
        return 2;
    }
    const auto &opts = std::get<sidecar::DaemonOptions>(parsed);

    // Every thread inherits this mask; only sigwait() below receives the signals.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    ops::route_lws_logs();
    ops::Counters counters;
    int64_t started_at = registry::unix_ms_now();

    registry::RegistryConfig reg_config;
    reg_config.url = opts.redis_url;
    reg_config.keys = registry::Keys{opts.prefix, opts.sidecar_id};
    reg_config.advertise_url = opts.advertise_url;
    reg_config.presence_token = opts.presence_token;
    reg_config.started_at_ms = started_at;
    registry::RegistryWriter registry(reg_config, counters);

    unsigned service_threads = opts.service_threads;
    if (service_threads == 0) service_threads = std::max(1u, std::thread::hardware_concurrency());
    service_threads = std::min(service_threads, session::kMaxShards);
    // Every service thread reads every event (one cursor each).
    stream::EventQueue events(256, stream::EventQueue::kDefaultMaxBytes, service_threads);
    net::ServerConfig server_config;
    server_config.host = opts.listen_host;
    server_config.port = opts.listen_port;
    server_config.sidecar_id = opts.sidecar_id;
    server_config.max_send_queue_bytes = opts.sessions.max_send_queue_bytes;
    server_config.send_stall_timeout_ms = int64_t{opts.sessions.send_stall_timeout_seconds} * 1000;
    server_config.tls_cert = opts.tls_cert;
    server_config.tls_key = opts.tls_key;
    server_config.trusted_proxies = opts.trusted_proxies;
    server_config.presence_token = opts.presence_token;
    server_config.snapshot_gather_ms = opts.snapshot_gather_ms;
    server_config.snapshot_share_bytes = size_t{opts.snapshot_share_mb} << 20;
    server_config.snapshot_yield_us = int64_t{opts.snapshot_yield_ms} * 1000;
    sidecar::auth::Authenticator authenticator(opts.security.auth);
    sidecar::auth::AuditConfig audit_config;
    audit_config.url = opts.redis_url;
    audit_config.stream_key = common::RedisKeys(opts.prefix).audit();
    audit_config.sidecar_id = opts.sidecar_id;
    sidecar::auth::AuditWriter audit(audit_config, counters);
    session::Gatekeeper gate(authenticator, audit, counters);
    net::ServerGroup server(server_config, service_threads, events, registry, counters, gate);
    sidecar::SecurityLayer security(opts.security, opts.redis_url, opts.prefix, opts.sidecar_id, gate, audit, counters);
    security.attach(server);
    std::string error;
    if (!server.listen(&error)) {
        ops::error("cannot start", {{"error", error}});
        return 1;
    }

    stream::ReaderConfig reader_config;
    reader_config.url = opts.stream_url();
    reader_config.prefix = opts.prefix;
    stream::StreamReader reader(reader_config, events, [&server] { server.wake(); }, counters);

    stream::ReplayConfig replay_config;
    replay_config.url = opts.stream_url();
    replay_config.prefix = opts.prefix;
    replay_config.page_entries = opts.sessions.replay_page_entries;
    stream::ReplayReader replay_reader(
        replay_config, [&server](stream::ReplayPage page) { server.deliver_replay_page(std::move(page)); }, counters);
    server.set_replay_reader(&replay_reader);

    std::unique_ptr<snapshot::SnapshotReader> snapshot_reader;
    if (!opts.postgres.empty()) {
        snapshot::SnapshotReaderConfig snapshot_config;
        snapshot_config.conninfo = opts.postgres;
        snapshot_config.max_queries = opts.snapshot_queries;
        snapshot_reader = std::make_unique<snapshot::SnapshotReader>(
            snapshot_config, [&server](snapshot::SnapshotEvent e) { server.deliver_snapshot_event(std::move(e)); });
        server.set_snapshot_reader(snapshot_reader.get());
    }

    ops::info("livesyncd started", {{"listen", opts.listen()},
                                    {"advertise_url", opts.advertise_url},
                                    {"tls", opts.tls_cert.empty() ? "off" : "on"},
                                    {"redis", opts.redis_url.redacted()},
                                    {"redis_read", opts.stream_url().redacted()},
                                    {"prefix", opts.prefix},
                                    {"sidecar", opts.sidecar_id},
                                    {"service_threads", service_threads}});
    if (!opts.redis_url.password.empty() && !opts.redis_password_from_file_or_env)
        ops::warn("the Redis password is part of the --redis URL: ps shows it to every local user, and "
                  "LIVESYNC_REDIS_URL or a config file hold it in clear",
                  {{"hint", "put it in a file only livesyncd can read and pass --redis-password-file"}});
    if (!common::prefix_has_hash_tag(opts.prefix))
        ops::warn("the key prefix has no hash tag: its keys spread over Redis Cluster slots, so livesync's "
                  "multi-key scripts and transactions cannot run on a Cluster",
                  {{"prefix", opts.prefix}, {"hint", "use a prefix like {livesync}:"}});
    registry.start();
    audit.start();
    reader.start();
    replay_reader.start();
    if (snapshot_reader) snapshot_reader->start();
    security.start();
    std::thread service([&server] {
        // A thread's loop only ends on its own when lws fails; wake main() to shut down.
        server.run([] { kill(getpid(), SIGTERM); });
    });

    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
        if (opts.tls_cert.empty()) {
            ops::info("SIGHUP: nothing to reload (no --tls-cert)", {});
        } else if (std::string why = net::check_tls_files(opts.tls_cert, opts.tls_key); !why.empty()) {
            ops::error("SIGHUP: keeping the current certificate", {{"error", why}});
        } else {
            server.reload_tls();
        }
    }
    ops::info("shutting down", {{"signal", sig}});
    server.request_stop();
    service.join();
    // Writers first, while their connections are up: registry entries removed, audit
    // and security store flushed. Then the readers: their XREAD BLOCKs (2 s each) are
    // cut short, so the process exits at once instead of 2-4 s later.
    registry.stop();
    audit.stop();
    security.stop_store();
    redis::Connection::interrupt_all();
    reader.stop();
    replay_reader.stop();
    if (snapshot_reader) snapshot_reader->stop();
    security.stop();
    ops::info("livesyncd stopped",
              {{"sessions_opened", counters.sessions_opened.load()},
               {"stream_entries", counters.stream_entries.load()},
               {"bad_stream_entries", counters.bad_stream_entries.load()},
               {"frames_built", counters.frames_built.load()},
               {"frames_queued", counters.frames_queued.load()},
               {"send_queue_overflows", counters.send_queue_overflows.load()},
               {"registry_ops_dropped", counters.registry_ops_dropped.load()}});
    return 0;
}
