#include "sidecar/config_file.hpp"

#include <toml++/toml.h>

#include <cstdint>
#include <sstream>

namespace livesync::sidecar {

namespace {

enum class Type { String, Integer, Boolean, Size };  // Size: a string like "8MiB" or an integer

struct Key {
    const char *key;
    Type type;
    const char *env;  // nullptr: the flag has no environment variable
};

// One entry per livesyncd flag that takes a value or is a switch (--config and --help
// excepted). A new flag gets its line here, or the file cannot set it.
constexpr Key kKeys[] = {
    {"listen", Type::String, "LIVESYNC_LISTEN"},
    {"redis", Type::String, "LIVESYNC_REDIS_URL"},
    {"prefix", Type::String, "LIVESYNC_PREFIX"},
    {"redis_sentinels", Type::String, "LIVESYNC_REDIS_SENTINELS"},
    {"redis_primary_name", Type::String, "LIVESYNC_REDIS_PRIMARY_NAME"},
    {"redis_read", Type::String, "LIVESYNC_REDIS_READ_URL"},
    {"redis_password_file", Type::String, "LIVESYNC_REDIS_PASSWORD_FILE"},
    {"presence_token_file", Type::String, "LIVESYNC_PRESENCE_TOKEN_FILE"},
    {"sidecar_id", Type::String, nullptr},
    {"tls_cert", Type::String, "LIVESYNC_TLS_CERT"},
    {"tls_key", Type::String, "LIVESYNC_TLS_KEY"},
    {"advertise_url", Type::String, "LIVESYNC_ADVERTISE_URL"},
    {"trusted_proxies", Type::String, "LIVESYNC_TRUSTED_PROXIES"},
    {"max_send_queue", Type::Size, "LIVESYNC_MAX_SEND_QUEUE"},
    {"replay_page_entries", Type::Integer, "LIVESYNC_REPLAY_PAGE_ENTRIES"},
    {"send_stall_timeout", Type::Integer, "LIVESYNC_SEND_STALL_TIMEOUT"},
    {"allow_anonymous", Type::Boolean, "LIVESYNC_ALLOW_ANONYMOUS"},
    {"jwt_hs256_secret", Type::String, "LIVESYNC_JWT_SECRET"},
    {"jwt_rs256_public_key", Type::String, "LIVESYNC_JWT_RS256_PUBLIC_KEY"},
    {"jwt_es256_public_key", Type::String, "LIVESYNC_JWT_ES256_PUBLIC_KEY"},
    {"jwt_audience", Type::String, "LIVESYNC_JWT_AUDIENCE"},
    {"jwt_issuer", Type::String, "LIVESYNC_JWT_ISSUER"},
    {"jwt_leeway", Type::Integer, "LIVESYNC_JWT_LEEWAY"},
    {"tenant_claim", Type::String, "LIVESYNC_TENANT_CLAIM"},
    {"role_claim", Type::String, "LIVESYNC_ROLE_CLAIM"},
    {"channels_claim", Type::String, "LIVESYNC_CHANNELS_CLAIM"},
    {"hello_timeout", Type::Integer, nullptr},
    {"rate_connections", Type::String, "LIVESYNC_RATE_CONNECTIONS"},
    {"rate_messages", Type::String, "LIVESYNC_RATE_MESSAGES"},
    {"ban_after", Type::Integer, "LIVESYNC_BAN_AFTER"},
    {"ban_window", Type::Integer, "LIVESYNC_BAN_WINDOW"},
    {"ban_seconds", Type::Integer, "LIVESYNC_BAN_SECONDS"},
    {"admin_token", Type::String, "LIVESYNC_ADMIN_TOKEN"},
    {"postgres", Type::String, "LIVESYNC_POSTGRES"},
    {"snapshot_queries", Type::Integer, "LIVESYNC_SNAPSHOT_QUERIES"},
    {"snapshot_gather_ms", Type::Integer, "LIVESYNC_SNAPSHOT_GATHER_MS"},
    {"snapshot_share_mb", Type::Integer, "LIVESYNC_SNAPSHOT_SHARE_MB"},
    {"snapshot_yield_ms", Type::Integer, "LIVESYNC_SNAPSHOT_YIELD_MS"},
    {"service_threads", Type::Integer, "LIVESYNC_SERVICE_THREADS"},
};

const char *type_name(Type t) {
    switch (t) {
        case Type::String: return "a string";
        case Type::Integer: return "an integer";
        case Type::Boolean: return "a boolean (true or false)";
        case Type::Size: return "a size (a string like \"8MiB\", or an integer number of bytes)";
    }
    return "?";
}

std::string where(const std::string &path, const toml::source_region &r) {
    return path + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

std::string flag_of(const char *key) {
    std::string flag = std::string("--") + key;
    for (char &c : flag)
        if (c == '_') c = '-';
    return flag;
}

}  // namespace

std::optional<ConfigFileValues> load_config_file(const std::string &path, std::string *error) {
    toml::table table;
    try {
        table = toml::parse_file(path);
    } catch (const toml::parse_error &e) {
        // toml++ reports an unreadable file as an error at line 0.
        if (e.source().begin.line == 0) *error = path + ": " + std::string(e.description());
        else *error = where(path, e.source()) + ": " + std::string(e.description());
        return std::nullopt;
    }
    ConfigFileValues out;
    for (auto &&[name, node] : table) {
        const Key *key = nullptr;
        for (const Key &k : kKeys)
            if (name.str() == k.key) key = &k;
        if (key == nullptr) {
            *error = where(path, name.source()) + ": unknown key \"" + std::string(name.str()) +
                     "\" (keys are the long flags without --, with _ for -; see livesyncd --help)";
            return std::nullopt;
        }
        std::string value;
        bool ok = true;
        switch (key->type) {
            case Type::String:
                ok = node.is_string();
                if (ok) value = *node.value<std::string>();
                break;
            case Type::Integer:
                ok = node.is_integer();
                if (ok) value = std::to_string(*node.value<int64_t>());
                break;
            case Type::Boolean:
                ok = node.is_boolean();
                if (ok && !*node.value<bool>()) continue;  // false is the default: nothing to set
                value = "1";
                break;
            case Type::Size:
                ok = node.is_string() || node.is_integer();
                if (node.is_string()) value = *node.value<std::string>();
                else if (ok) value = std::to_string(*node.value<int64_t>());
                break;
        }
        if (!ok) {
            std::ostringstream got;
            got << node.type();
            *error = where(path, node.source()) + ": \"" + std::string(name.str()) + "\" must be " +
                     type_name(key->type) + ", not " + got.str();
            return std::nullopt;
        }
        if (key->env) out.env[key->env] = value;
        else out.flags.push_back(flag_of(key->key) + "=" + value);
    }
    return out;
}

std::string config_file_usage() {
    return "  --config FILE        TOML file whose keys are these long flags without --, with _ for -\n"
           "                       (listen = \"0.0.0.0:8080\", allow_anonymous = true, ...); flags beat\n"
           "                       the environment, which beats the file (docs/configuration.md)\n";
}

}  // namespace livesync::sidecar
