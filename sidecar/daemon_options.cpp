#include "sidecar/daemon_options.hpp"

#include "sidecar/config_file.hpp"
#include "sidecar/net/tls_files.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <charconv>
#include <random>

namespace livesync::sidecar {

namespace {

// A decimal port from 1 to 65535, the whole of text.
bool parse_port(const std::string &text, int *port) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *port);
    return !text.empty() && ec == std::errc() && end == text.data() + text.size() && *port >= 1 && *port <= 65535;
}

bool parse_listen(const std::string &text, DaemonOptions &o, std::string *error) {
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find("]:");
        if (close == std::string::npos) {
            *error = "--listen must be HOST:PORT, not \"" + text + "\"";
            return false;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos) {
            *error = "--listen must be HOST:PORT, not \"" + text + "\"";
            return false;
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    int p = 0;
    if (host.empty() || !parse_port(port, &p)) {
        *error = "--listen must be HOST:PORT with a port from 1 to 65535, not \"" + text + "\"";
        return false;
    }
    o.listen_host = host;
    o.listen_port = p;
    return true;
}

// --advertise-url: http(s)://HOST[:PORT][/PATH], the base the replicator's sweep appends
// /v1/clients/presence to; returned without a trailing '/'. No user info (the heartbeat
// is readable by anyone with Redis access), query or fragment.
std::optional<std::string> parse_advertise_url(const std::string &text, std::string *error) {
    *error = "--advertise-url must be an http:// or https:// URL with a host (https://HOST[:PORT][/PATH]), not \"" +
             text + "\"";
    size_t start = text.rfind("http://", 0) == 0 ? 7 : text.rfind("https://", 0) == 0 ? 8 : std::string::npos;
    if (start == std::string::npos) return std::nullopt;
    for (unsigned char c : text)
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '@' || c == '\\') return std::nullopt;
    size_t path = text.find('/', start);
    std::string authority = text.substr(start, path == std::string::npos ? std::string::npos : path - start);
    std::string host, port;
    if (!authority.empty() && authority[0] == '[') {
        size_t close = authority.find(']');
        if (close == std::string::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        std::string rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':' || rest.size() == 1) return std::nullopt;
            port = rest.substr(1);
        }
    } else {
        size_t colon = authority.find(':');
        host = authority.substr(0, colon);
        if (colon != std::string::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) return std::nullopt;
        }
    }
    int p = 0;
    if (host.empty() || (!port.empty() && !parse_port(port, &p))) return std::nullopt;
    std::string url = text;
    while (path != std::string::npos && url.size() > path && url.back() == '/') url.pop_back();
    error->clear();
    return url;
}

bool valid_sidecar_id(const std::string &id) {
    if (id.empty() || id.size() > 128) return false;
    for (unsigned char c : id)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

constexpr size_t kMinPresenceTokenBytes = 16;

// 32 bytes of OpenSSL's CSPRNG as hex; std::random_device if that fails (it does not
// on a system with /dev/urandom).
std::string random_presence_token() {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        std::random_device device;
        for (unsigned char &b : bytes) b = static_cast<unsigned char>(device());
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += kHex[b >> 4];
        out += kHex[b & 0xF];
    }
    return out;
}

std::string default_sidecar_id() {
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "livesyncd");
    return std::string(host) + "-" + std::to_string(getpid());
}

}  // namespace

std::string DaemonOptions::listen() const {
    return listen_host.find(':') != std::string::npos ? "[" + listen_host + "]:" + std::to_string(listen_port)
                                                       : listen_host + ":" + std::to_string(listen_port);
}

std::string daemon_usage() {
    return "usage: livesyncd [options]\n"
           "  --listen HOST:PORT   address to serve HTTP and WebSockets on (env LIVESYNC_LISTEN,\n"
           "                       default 127.0.0.1:8080)\n"
           "  --redis URL          redis://[[user]:password@]host[:port][/db] (env LIVESYNC_REDIS_URL,\n"
           "                       default redis://127.0.0.1:6379)\n"
           "  --prefix STRING      Redis key prefix (env LIVESYNC_PREFIX, default " +
           std::string(common::kDefaultKeyPrefix) + ")\n"
           "  --redis-sentinels HOST:PORT,...  ask these Sentinels for the primary instead of using\n"
           "                       --redis's host (env LIVESYNC_REDIS_SENTINELS; --redis still gives the\n"
           "                       user, password and db)\n"
           "  --redis-read URL     read the change stream and config copies from this node (a replica\n"
           "                       near this sidecar; env LIVESYNC_REDIS_READ_URL); writes still go to\n"
           "                       --redis / the Sentinels' primary\n"
           "  --redis-primary-name NAME  the primary's name in the Sentinels (env\n"
           "                       LIVESYNC_REDIS_PRIMARY_NAME, default livesync)\n"
           "  --redis-password-file FILE  the Redis password (of --redis and --redis-read), kept out of\n"
           "                       ps and logs (env LIVESYNC_REDIS_PASSWORD_FILE; or the password itself in\n"
           "                       env LIVESYNC_REDIS_PASSWORD); replaces a password in the URLs\n"
           "  --presence-token-file FILE  the token /v1/clients/... ask for (env\n"
           "                       LIVESYNC_PRESENCE_TOKEN_FILE; default: a random one per start, published\n"
           "                       in the heartbeat for the replicator's sweep)\n"
           "  --sidecar-id ID      this sidecar's id in the registry (default <hostname>-<pid>)\n"
           "  --tls-cert FILE      PEM certificate (chain): serve wss:// and https:// (env\n"
           "                       LIVESYNC_TLS_CERT); needs --tls-key; both re-read on SIGHUP\n"
           "  --tls-key FILE       PEM private key of --tls-cert (env LIVESYNC_TLS_KEY)\n"
           "  --advertise-url URL  base URL others reach this sidecar's HTTP endpoints at, published in\n"
           "                       its heartbeat for the replicator's sweep (env LIVESYNC_ADVERTISE_URL;\n"
           "                       default https://<listen> with --tls-cert, else http://<listen>)\n"
           "  --trusted-proxies CIDR,...  peers whose X-Forwarded-For names the client (for rate\n"
           "                       limits, bans, ownership, audit); default none (env\n"
           "                       LIVESYNC_TRUSTED_PROXIES)\n"
           "  --postgres CONNINFO  libpq conninfo or URI to read subscription snapshots through (env\n"
           "                       LIVESYNC_POSTGRES; a read-only role, a hot standby is fine:\n"
           "                       docs/operations.md); unset: \"snapshot\": true is refused\n"
           "  --snapshot-queries N snapshot queries run at once, 1 to 64 (env\n"
           "                       LIVESYNC_SNAPSHOT_QUERIES, default 4); more wait in order\n"
           "  --snapshot-gather-ms MS  a snapshot request waits up to this long for identical ones\n"
           "                       to share its query, 0 to 1000 (env LIVESYNC_SNAPSHOT_GATHER_MS,\n"
           "                       default 5)\n"
           "  --snapshot-share-mb MB  rows already sent that a running snapshot query keeps so that\n"
           "                       later identical requests join it, per service thread, 0 to 4096\n"
           "                       (env LIVESYNC_SNAPSHOT_SHARE_MB, default 32; 0: join only before\n"
           "                       its first rows)\n"
           "  --snapshot-yield-ms MS  snapshot traffic slows down while live changes wait more than\n"
           "                       this above their usual commit-to-fan-out delay, 0 to 10000\n"
           "                       (env LIVESYNC_SNAPSHOT_YIELD_MS, default 5; 0: never)\n"
           "  --service-threads N  threads serving the WebSocket sessions, 1 to 64 (env\n"
           "                       LIVESYNC_SERVICE_THREADS; default: the machine's cores)\n"
           "  --help               print this and exit\n" +
           config_file_usage() +
           auth::security_usage() + session_usage();
}

namespace {

ParsedOptions parse_command_line(const std::vector<std::string> &args,
                                 const std::function<const char *(const char *)> &getenv) {
    std::optional<std::string> listen, redis, prefix, sidecar_id, tls_cert, tls_key, trusted_proxies, sentinels,
        primary_name, redis_read, redis_password_file, presence_token_file, postgres, snapshot_queries,
        snapshot_gather_ms, snapshot_share_mb, snapshot_yield_ms, service_threads, advertise_url;
    auth::SecurityFlags security;
    SessionFlags session_flags;
    if (const char *v = getenv("LIVESYNC_LISTEN")) listen = v;
    if (const char *v = getenv("LIVESYNC_REDIS_URL")) redis = v;
    if (const char *v = getenv("LIVESYNC_PREFIX")) prefix = v;
    if (const char *v = getenv("LIVESYNC_TLS_CERT")) tls_cert = v;
    if (const char *v = getenv("LIVESYNC_TLS_KEY")) tls_key = v;
    if (const char *v = getenv("LIVESYNC_ADVERTISE_URL")) advertise_url = v;
    if (const char *v = getenv("LIVESYNC_TRUSTED_PROXIES")) trusted_proxies = v;
    if (const char *v = getenv("LIVESYNC_REDIS_SENTINELS")) sentinels = v;
    if (const char *v = getenv("LIVESYNC_REDIS_READ_URL")) redis_read = v;
    if (const char *v = getenv("LIVESYNC_REDIS_PRIMARY_NAME")) primary_name = v;
    if (const char *v = getenv("LIVESYNC_REDIS_PASSWORD_FILE")) redis_password_file = v;
    if (const char *v = getenv("LIVESYNC_PRESENCE_TOKEN_FILE")) presence_token_file = v;
    if (const char *v = getenv("LIVESYNC_POSTGRES")) postgres = v;
    if (const char *v = getenv("LIVESYNC_SNAPSHOT_QUERIES")) snapshot_queries = v;
    if (const char *v = getenv("LIVESYNC_SNAPSHOT_GATHER_MS")) snapshot_gather_ms = v;
    if (const char *v = getenv("LIVESYNC_SNAPSHOT_SHARE_MB")) snapshot_share_mb = v;
    if (const char *v = getenv("LIVESYNC_SNAPSHOT_YIELD_MS")) snapshot_yield_ms = v;
    if (const char *v = getenv("LIVESYNC_SERVICE_THREADS")) service_threads = v;

    for (size_t i = 0; i < args.size(); ++i) {
        std::string flag = args[i], value;
        bool inline_value = false;
        if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = flag.substr(eq + 1);
            flag = flag.substr(0, eq);
            inline_value = true;
        }
        if (flag == "--help" || flag == "-h") return ShowHelp{};
        std::optional<std::string> *target = flag == "--listen"       ? &listen
                                             : flag == "--redis"      ? &redis
                                             : flag == "--prefix"     ? &prefix
                                             : flag == "--sidecar-id" ? &sidecar_id
                                             : flag == "--tls-cert"   ? &tls_cert
                                             : flag == "--tls-key"    ? &tls_key
                                             : flag == "--advertise-url" ? &advertise_url
                                             : flag == "--trusted-proxies" ? &trusted_proxies
                                             : flag == "--redis-sentinels"    ? &sentinels
                                             : flag == "--redis-primary-name" ? &primary_name
                                             : flag == "--redis-read"         ? &redis_read
                                             : flag == "--redis-password-file" ? &redis_password_file
                                             : flag == "--presence-token-file" ? &presence_token_file
                                             : flag == "--postgres"           ? &postgres
                                             : flag == "--snapshot-queries"   ? &snapshot_queries
                                             : flag == "--snapshot-gather-ms" ? &snapshot_gather_ms
                                             : flag == "--snapshot-share-mb"  ? &snapshot_share_mb
                                             : flag == "--snapshot-yield-ms"  ? &snapshot_yield_ms
                                             : flag == "--service-threads"    ? &service_threads
                                                                              : nullptr;
        if (target == nullptr && !inline_value && security.switch_flag(flag)) continue;
        if (target == nullptr) target = security.value_flag(flag);
        if (target == nullptr) target = session_flags.value_flag(flag);
        if (target == nullptr) return OptionsError{"unknown option \"" + flag + "\""};
        if (!inline_value) {
            if (i + 1 >= args.size()) return OptionsError{flag + " needs a value"};
            value = args[++i];
        }
        *target = value;
    }

    DaemonOptions o;
    std::string error;
    if (listen && !parse_listen(*listen, o, &error)) return OptionsError{error};
    if (redis) o.redis_url_text = *redis;
    auto url = common::parse_redis_url(o.redis_url_text, &error);
    if (!url) return OptionsError{"--redis: " + error};
    o.redis_url = *url;
    if (sentinels) {
        auto list = common::parse_sentinel_list(*sentinels, &error);
        if (!list) return OptionsError{"--redis-sentinels: " + error};
        o.redis_url.sentinels = std::move(*list);
    }
    o.redis_url.primary_name = primary_name ? *primary_name : std::string(kDefaultPrimaryName);
    if (!common::valid_primary_name(o.redis_url.primary_name))
        return OptionsError{"--redis-primary-name must be 1 to 128 characters of A-Z a-z 0-9 . _ -, not \"" +
                            o.redis_url.primary_name + "\""};
    if (redis_read) {
        auto read_url = common::parse_redis_url(*redis_read, &error);
        if (!read_url) return OptionsError{"--redis-read: " + error};
        read_url->role = common::RedisRole::Any;  // a replica is what it is for
        o.redis_read_url = *read_url;
    }
    std::optional<std::string> password;
    if (redis_password_file) {
        password = common::read_secret_file(*redis_password_file, &error);
        if (!password) return OptionsError{"--redis-password-file: " + error};
    } else if (const char *v = getenv("LIVESYNC_REDIS_PASSWORD"); v && *v) {
        password = v;
    }
    if (password) {
        o.redis_url.password = *password;
        if (o.redis_read_url) o.redis_read_url->password = *password;
        o.redis_password_from_file_or_env = true;
    }
    if (presence_token_file) {
        auto token = common::read_secret_file(*presence_token_file, &error);
        if (!token) return OptionsError{"--presence-token-file: " + error};
        if (token->size() < kMinPresenceTokenBytes)
            return OptionsError{"--presence-token-file: the token must be at least " +
                                std::to_string(kMinPresenceTokenBytes) + " bytes"};
        o.presence_token = *token;
    } else {
        o.presence_token = random_presence_token();
    }
    if (primary_name && o.redis_url.sentinels.empty())
        return OptionsError{"--redis-primary-name needs --redis-sentinels (the Sentinels know the primary by it)"};
    if (prefix) o.prefix = *prefix;
    o.sidecar_id = sidecar_id ? *sidecar_id : default_sidecar_id();
    if (!valid_sidecar_id(o.sidecar_id))
        return OptionsError{"--sidecar-id must be 1 to 128 printable ASCII characters without spaces"};
    if (tls_cert.value_or("").empty() != tls_key.value_or("").empty())
        return OptionsError{"--tls-cert and --tls-key go together: give both (wss/https) or neither (ws/http)"};
    if (tls_cert && !tls_cert->empty()) {
        if (std::string why = net::check_tls_files(*tls_cert, *tls_key); !why.empty()) return OptionsError{why};
        o.tls_cert = *tls_cert;
        o.tls_key = *tls_key;
    }
    if (advertise_url) {
        auto url = parse_advertise_url(*advertise_url, &error);
        if (!url) return OptionsError{error};
        o.advertise_url = *url;
    } else {
        o.advertise_url = (o.tls_cert.empty() ? "http://" : "https://") + o.listen();
    }
    if (trusted_proxies) {
        auto parsed = net::TrustedProxies::parse(*trusted_proxies, &error);
        if (!parsed) return OptionsError{error};
        o.trusted_proxies = *parsed;
    }
    if (postgres) o.postgres = *postgres;
    // A count from 1 to 64, or the error that says so.
    auto count_of = [](const char *flag, const std::string &v, size_t *n) -> std::optional<OptionsError> {
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *n);
        if (ec != std::errc() || end != v.data() + v.size() || *n < 1 || *n > 64)
            return OptionsError{std::string(flag) + " must be from 1 to 64, not \"" + v + "\""};
        return std::nullopt;
    };
    if (snapshot_queries)
        if (auto bad = count_of("--snapshot-queries", *snapshot_queries, &o.snapshot_queries)) return *bad;
    // A whole number from 0 to max, in unit.
    auto whole_number = [](const char *flag, const std::string &v, const char *unit, unsigned max,
                           unsigned *n) -> std::optional<OptionsError> {
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), *n);
        if (ec != std::errc() || end != v.data() + v.size() || *n > max)
            return OptionsError{std::string(flag) + " must be a whole number of " + unit + " from 0 to " +
                                std::to_string(max) + ", not \"" + v + "\""};
        return std::nullopt;
    };
    if (snapshot_gather_ms)
        if (auto bad = whole_number("--snapshot-gather-ms", *snapshot_gather_ms, "milliseconds",
                                    kMaxSnapshotGatherMs, &o.snapshot_gather_ms))
            return *bad;
    if (snapshot_share_mb)
        if (auto bad = whole_number("--snapshot-share-mb", *snapshot_share_mb, "MiB", kMaxSnapshotShareMb,
                                    &o.snapshot_share_mb))
            return *bad;
    if (snapshot_yield_ms)
        if (auto bad = whole_number("--snapshot-yield-ms", *snapshot_yield_ms, "milliseconds",
                                    kMaxSnapshotYieldMs, &o.snapshot_yield_ms))
            return *bad;
    if (service_threads) {
        size_t n = 0;
        if (auto bad = count_of("--service-threads", *service_threads, &n)) return *bad;
        o.service_threads = static_cast<unsigned>(n);
    }
    if (!security.resolve(getenv, o.security, &error)) return OptionsError{error};
    if (!session_flags.resolve(getenv, o.sessions, &error)) return OptionsError{error};
    return o;
}

}  // namespace

ParsedOptions parse_daemon_options(const std::vector<std::string> &args,
                                   const std::function<const char *(const char *)> &getenv) {
    // --config FILE (or --config=FILE): the file's values go below the environment and
    // the command line (config_file.hpp), then everything is parsed as usual.
    std::optional<std::string> config_path;
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--help" || args[i] == "-h") return ShowHelp{};
        if (args[i] == "--config") {
            if (i + 1 >= args.size()) return OptionsError{"--config needs a value"};
            config_path = args[++i];
        } else if (args[i].rfind("--config=", 0) == 0) {
            config_path = args[i].substr(9);
        } else {
            rest.push_back(args[i]);
        }
    }
    if (!config_path) return parse_command_line(args, getenv);
    std::string error;
    auto file = load_config_file(*config_path, &error);
    if (!file) return OptionsError{error};
    std::vector<std::string> layered = file->flags;
    layered.insert(layered.end(), rest.begin(), rest.end());
    auto env = [&](const char *name) -> const char * {
        if (const char *v = getenv(name)) return v;
        auto it = file->env.find(name);
        return it == file->env.end() ? nullptr : it->second.c_str();
    };
    return parse_command_line(layered, env);
}

}  // namespace livesync::sidecar
