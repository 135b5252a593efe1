#include "redis_url.hpp"

#include <charconv>

namespace livesync::common {

namespace {
bool parse_int(std::string_view s, int lo, int hi, int &out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}
}  // namespace

std::string RedisUrl::redacted() const {
    std::string out = "redis://";
    if (!password.empty()) out += user + ":***@";
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    out += ":" + std::to_string(port);
    if (db != 0) out += "/" + std::to_string(db);
    return out;
}

std::optional<RedisUrl> parse_redis_url(std::string_view text, std::string *error) {
    constexpr std::string_view kScheme = "redis://";
    if (text.substr(0, kScheme.size()) != kScheme) {
        *error = "Redis URL must start with redis://";
        return std::nullopt;
    }
    std::string_view rest = text.substr(kScheme.size());
    RedisUrl url;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
        auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            *error = "Redis URL credentials must be [user]:password@";
            return std::nullopt;
        }
        url.user = std::string(userinfo.substr(0, colon));
        url.password = std::string(userinfo.substr(colon + 1));
    }
    std::string_view hostport = rest;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        hostport = rest.substr(0, slash);
        std::string_view db = rest.substr(slash + 1);
        if (!db.empty() && !parse_int(db, 0, 1 << 20, url.db)) {
            *error = "Redis URL database must be a number, not \"" + std::string(db) + "\"";
            return std::nullopt;
        }
    }
    std::string_view host = hostport, port;
    bool has_port = false;
    if (!hostport.empty() && hostport[0] == '[') {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            *error = "Redis URL has an unclosed [ in its host";
            return std::nullopt;
        }
        host = hostport.substr(1, close - 1);
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') {
                *error = "Redis URL has garbage after its host";
                return std::nullopt;
            }
            port = after.substr(1);
            has_port = true;
        }
    } else if (auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
        host = hostport.substr(0, colon);
        port = hostport.substr(colon + 1);
        has_port = true;
    }
    if (host.empty()) {
        *error = "Redis URL has no host";
        return std::nullopt;
    }
    url.host = std::string(host);
    if (has_port) {
        if (!parse_int(port, 1, 65535, url.port)) {
            *error = "Redis URL port must be a number from 1 to 65535, not \"" + std::string(port) + "\"";
            return std::nullopt;
        }
    }
    return url;
}

}  // namespace livesync::common
