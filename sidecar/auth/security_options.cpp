#include "sidecar/auth/security_options.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace livesync::sidecar::auth {

namespace {

const char *const kValueFlags[] = {"--jwt-hs256-secret", "--jwt-rs256-public-key", "--jwt-es256-public-key",
                                   "--jwt-audience",     "--jwt-issuer",            "--jwt-leeway",
                                   "--tenant-claim",     "--role-claim",            "--channels-claim",
                                   "--hello-timeout",
                                   "--rate-connections", "--rate-messages",         "--ban-after",
                                   "--ban-window",       "--ban-seconds",           "--admin-token"};

bool read_file(const std::string &path, std::string &out, std::string *error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        *error = "cannot read " + path;
        return false;
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    out = buf.str();
    if (out.find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
        *error = path + " is not a PEM public key (-----BEGIN PUBLIC KEY-----)";
        return false;
    }
    return true;
}

bool parse_seconds(const std::string &flag, const std::string &text, int max, int &out, std::string *error) {
    int v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || v < 0 || v > max) {
        *error = flag + " must be a number of seconds from 0 to " + std::to_string(max);
        return false;
    }
    out = v;
    return true;
}

}  // namespace

std::optional<std::string> *SecurityFlags::value_flag(const std::string &flag) {
    for (const char *known : kValueFlags)
        if (flag == known) return &values_[flag];
    return nullptr;
}

bool SecurityFlags::switch_flag(const std::string &flag) {
    if (flag != "--allow-anonymous") return false;
    allow_anonymous_ = true;
    return true;
}

bool SecurityFlags::resolve(const std::function<const char *(const char *)> &getenv, SecurityOptions &out,
                            std::string *error) const {
    auto value = [&](const char *flag, const char *env) -> std::optional<std::string> {
        auto it = values_.find(flag);
        if (it != values_.end() && it->second) return it->second;
        if (env)
            if (const char *v = getenv(env)) return std::string(v);
        return std::nullopt;
    };
    AuthConfig &a = out.auth;
    if (auto v = value("--jwt-hs256-secret", "LIVESYNC_JWT_SECRET")) {
        if (v->size() < 32) {
            *error = "--jwt-hs256-secret (LIVESYNC_JWT_SECRET) must be at least 32 bytes";
            return false;
        }
        a.keys.hs256_secret = *v;
    }
    if (auto v = value("--jwt-rs256-public-key", "LIVESYNC_JWT_RS256_PUBLIC_KEY"))
        if (!read_file(*v, a.keys.rs256_public_pem, error)) return false;
    if (auto v = value("--jwt-es256-public-key", "LIVESYNC_JWT_ES256_PUBLIC_KEY"))
        if (!read_file(*v, a.keys.es256_public_pem, error)) return false;
    if (auto v = value("--jwt-audience", "LIVESYNC_JWT_AUDIENCE")) a.policy.audience = *v;
    if (auto v = value("--jwt-issuer", "LIVESYNC_JWT_ISSUER")) a.policy.issuer = *v;
    if (auto v = value("--jwt-leeway", "LIVESYNC_JWT_LEEWAY"))
        if (!parse_seconds("--jwt-leeway", *v, 600, a.policy.leeway_seconds, error)) return false;
    if (auto v = value("--hello-timeout", nullptr))
        if (!parse_seconds("--hello-timeout", *v, 3600, a.hello_timeout_seconds, error)) return false;
    if (auto v = value("--tenant-claim", "LIVESYNC_TENANT_CLAIM")) a.tenant_claim = *v;
    if (auto v = value("--role-claim", "LIVESYNC_ROLE_CLAIM")) a.role_claim = *v;
    if (auto v = value("--channels-claim", "LIVESYNC_CHANNELS_CLAIM")) a.channels_claim = *v;
    if (a.tenant_claim.empty() || a.role_claim.empty() || a.channels_claim.empty()) {
        *error = "--tenant-claim, --role-claim and --channels-claim must not be empty";
        return false;
    }
    AbuseConfig &abuse = out.abuse;
    if (auto v = value("--rate-connections", "LIVESYNC_RATE_CONNECTIONS")) {
        auto r = parse_rate_limit(*v);
        if (!r) {
            *error = "--rate-connections must be PER_SECOND:BURST (e.g. 20:40; burst >= 1) or off, not \"" + *v + "\"";
            return false;
        }
        abuse.connections = *r;
    }
    if (auto v = value("--rate-messages", "LIVESYNC_RATE_MESSAGES")) {
        auto r = parse_rate_limit(*v);
        if (!r) {
            *error = "--rate-messages must be PER_SECOND:BURST (e.g. 50:100; burst >= 1) or off, not \"" + *v + "\"";
            return false;
        }
        abuse.messages = *r;
    }
    if (auto v = value("--ban-after", "LIVESYNC_BAN_AFTER"))
        if (!parse_seconds("--ban-after", *v, 100000, abuse.ban_after, error)) {
            *error = "--ban-after must be a number of auth failures from 0 (never ban) to 100000, not \"" + *v + "\"";
            return false;
        }
    if (auto v = value("--ban-window", "LIVESYNC_BAN_WINDOW"))
        if (!parse_seconds("--ban-window", *v, 86400, abuse.ban_window_seconds, error)) return false;
    if (auto v = value("--ban-seconds", "LIVESYNC_BAN_SECONDS"))
        if (!parse_seconds("--ban-seconds", *v, 30 * 86400, abuse.ban_seconds, error)) return false;
    if (abuse.ban_after > 0 && (abuse.ban_window_seconds < 1 || abuse.ban_seconds < 1)) {
        *error = "--ban-window and --ban-seconds must be at least 1 when --ban-after is set";
        return false;
    }
    if (auto v = value("--admin-token", "LIVESYNC_ADMIN_TOKEN")) {
        if (v->size() < 16) {
            *error = "--admin-token (LIVESYNC_ADMIN_TOKEN) must be at least 16 bytes";
            return false;
        }
        out.admin_token = *v;
    }
    a.allow_anonymous = allow_anonymous_;
    if (const char *v = getenv("LIVESYNC_ALLOW_ANONYMOUS"); v && std::string(v) == "1") a.allow_anonymous = true;
    if (!a.keys.any() && !a.allow_anonymous) {
        *error = "no JWT key is configured: pass --jwt-hs256-secret (or LIVESYNC_JWT_SECRET), "
                 "--jwt-rs256-public-key or --jwt-es256-public-key, or --allow-anonymous to serve "
                 "anonymous clients only";
        return false;
    }
    return true;
}

std::string security_usage() {
    return "security (docs/security.md):\n"
           "  --jwt-hs256-secret S  HS256 shared secret, >= 32 bytes (env LIVESYNC_JWT_SECRET)\n"
           "  --jwt-rs256-public-key FILE  RS256 public key, PEM (env LIVESYNC_JWT_RS256_PUBLIC_KEY)\n"
           "  --jwt-es256-public-key FILE  ES256 (P-256) public key, PEM (env LIVESYNC_JWT_ES256_PUBLIC_KEY)\n"
           "  --jwt-audience AUD    required aud claim (env LIVESYNC_JWT_AUDIENCE)\n"
           "  --jwt-issuer ISS      required iss claim (env LIVESYNC_JWT_ISSUER)\n"
           "  --jwt-leeway SECONDS  clock skew allowed on exp/nbf, default 30 (env LIVESYNC_JWT_LEEWAY)\n"
           "  --tenant-claim NAME   claim holding the tenant, default tenant (env LIVESYNC_TENANT_CLAIM)\n"
           "  --role-claim NAME     claim holding the role, default role (env LIVESYNC_ROLE_CLAIM)\n"
           "  --channels-claim NAME claim listing the notify channels a token may listen to,\n"
           "                        default channels (env LIVESYNC_CHANNELS_CLAIM)\n"
           "  --hello-timeout SECONDS  close connections not authenticated by then, default 10\n"
           "  --allow-anonymous     serve clients without a token as role \"anonymous\"\n"
           "                        (env LIVESYNC_ALLOW_ANONYMOUS=1); without a key it is required\n"
           "  --rate-connections PER_S:BURST  WebSocket connections per address, default 20:40, off:\n"
           "                        no limit (env LIVESYNC_RATE_CONNECTIONS); over it: close 4429\n"
           "  --rate-messages PER_S:BURST  client messages per user (per address when anonymous),\n"
           "                        default 50:100, off: no limit (env LIVESYNC_RATE_MESSAGES)\n"
           "  --ban-after N         ban an address after N auth failures within --ban-window,\n"
           "                        default 20, 0: never (env LIVESYNC_BAN_AFTER)\n"
           "  --ban-window SECONDS  default 60 (env LIVESYNC_BAN_WINDOW)\n"
           "  --ban-seconds SECONDS how long such a ban lasts, default 600 (env LIVESYNC_BAN_SECONDS)\n"
           "  --admin-token T       Bearer token of the admin API /v1/admin/*, >= 16 bytes (env\n"
           "                        LIVESYNC_ADMIN_TOKEN); without it the admin API answers 404\n";
}

}  // namespace livesync::sidecar::auth
