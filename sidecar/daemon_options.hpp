// livesyncd's command line, environment and optional config file (--config FILE, TOML):
// flags win over LIVESYNC_* variables, which win over the file, which wins over defaults. Validated here so a bad value stops the daemon before it starts.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"
#include "sidecar/net/client_address.hpp"
#include "sidecar/auth/security_options.hpp"
#include "sidecar/session/session_options.hpp"

namespace livesync::sidecar {

inline constexpr const char *kDefaultPrimaryName = "livesync";
inline constexpr unsigned kMaxSnapshotGatherMs = 1000;
inline constexpr unsigned kMaxSnapshotShareMb = 4096;
inline constexpr unsigned kMaxSnapshotYieldMs = 10000;

struct DaemonOptions {
    std::string listen_host = "127.0.0.1";
    int listen_port = 8080;
    std::string redis_url_text = "redis://127.0.0.1:6379";
    common::RedisUrl redis_url;
    std::string prefix{common::kDefaultKeyPrefix};
    // --redis-read: where the stream reader and the replay reader read the change stream
    // and the config copies (a replica near this sidecar); unset, they read where
    // everything else writes (redis_url). Registry, presence, audit, claims, bans and the
    // control stream always go to redis_url.
    std::optional<common::RedisUrl> redis_read_url;
    const common::RedisUrl &stream_url() const { return redis_read_url ? *redis_read_url : redis_url; }
    // The password of redis_url and redis_read_url came from --redis-password-file or
    // LIVESYNC_REDIS_PASSWORD (not shown by ps); false: from the URL itself, if any.
    bool redis_password_from_file_or_env = false;
    // The Authorization: Bearer token the presence endpoints (/v1/clients/...) ask for:
    // --presence-token-file's content, or 32 random bytes as hex. Published in the
    // heartbeat, where the replicator's sweep reads it.
    std::string presence_token;
    std::string sidecar_id;  // default: <hostname>-<pid>
    auth::SecurityOptions security;  // tokens, anonymous access (sidecar/auth)
    SessionOptions sessions;         // send-queue bound, resume paging (sidecar/session)
    // wss/https when both are set (checked readable and matching at parse time; re-read
    // on SIGHUP). Neither: plain ws/http.
    std::string tls_cert;
    std::string tls_key;
    // The base URL the replicator's sweep (and anyone else) reaches this sidecar's HTTP
    // endpoints at, published in the heartbeat: --advertise-url, or http(s)://<listen>
    // (a wildcard listen host is kept as it is: set this when listening on 0.0.0.0).
    std::string advertise_url;
    net::TrustedProxies trusted_proxies;  // whose X-Forwarded-For is believed
    // --postgres: libpq conninfo (or URI) snapshots are read through; empty: subscribes
    // with "snapshot": true are refused (snapshot_unavailable).
    std::string postgres;
    size_t snapshot_queries = 4;  // snapshot queries running at once (admission control)
    // How long a snapshot request waits for identical ones (same table and tenant) before
    // its query starts, so that clients subscribing together share one query.
    unsigned snapshot_gather_ms = 5;
    // MiB of rows already sent that each service thread's running snapshot queries keep so
    // that later identical requests still join them (SnapshotCoordinator::set_share_bytes).
    unsigned snapshot_share_mb = 32;
    // Snapshot traffic slows down while live transactions wait more than this above their
    // usual commit-to-fan-out delay (snapshot/snapshot_pacer.hpp); 0: never.
    unsigned snapshot_yield_ms = 5;
    unsigned service_threads = 0;  // 0: the machine's cores (net/server_group.hpp)

    std::string listen() const;
};

struct ShowHelp {};
struct OptionsError {
    std::string message;
};

using ParsedOptions = std::variant<DaemonOptions, ShowHelp, OptionsError>;

// getenv is injectable for tests.
ParsedOptions parse_daemon_options(const std::vector<std::string> &args,
                                   const std::function<const char *(const char *)> &getenv);

std::string daemon_usage();

}  // namespace livesync::sidecar
