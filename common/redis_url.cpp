#include "redis_url.hpp"

#include <sys/stat.h>

#include <charconv>
#include <fstream>
#include <iterator>

namespace livesync::common {

namespace {
bool parse_int(std::string_view s, int lo, int hi, int &out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}


std::string format_host(const std::string &host) {
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// host[:port] or [v6][:port]; *has_port tells whether a port was written.
bool split_host_port(std::string_view hostport, std::string_view &host, std::string_view &port, bool &has_port,
                     const char *what, std::string *error) {
    host = hostport;
    has_port = false;
    if (!hostport.empty() && hostport[0] == '[') {
        auto close = hostport.find(']');
        if (close == std::string_view::npos) {
            *error = std::string(what) + " has an unclosed [ in its host";
            return false;
        }
        host = hostport.substr(1, close - 1);
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') {
                *error = std::string(what) + " has garbage after its host";
                return false;
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
        *error = std::string(what) + " has no host";
        return false;
    }
    return true;
}
}  // namespace

std::string RedisUrl::redacted() const {
    std::string out = "redis://";
    if (!password.empty()) out += user + ":***@";
    if (!sentinels.empty()) {
        // The node changes with every failover; the log names how it is found.
        out += "sentinel:" + primary_name + "@";
        for (size_t i = 0; i < sentinels.size(); ++i)
            out += (i ? "," : "") + format_host(sentinels[i].host) + ":" + std::to_string(sentinels[i].port);
    } else {
        out += format_host(host) + ":" + std::to_string(port);
    }
    if (db != 0) out += "/" + std::to_string(db);
    return out;
}

bool valid_primary_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    return true;
}

std::optional<std::vector<HostPort>> parse_sentinel_list(std::string_view text, std::string *error) {
    std::vector<HostPort> out;
    if (text.empty()) return out;
    constexpr size_t kMaxSentinels = 16;
    while (true) {
        auto comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (item.empty()) {
            *error = "Sentinel list has an empty entry (write host[:port],host[:port],...)";
            return std::nullopt;
        }
        std::string_view host, port;
        bool has_port = false;
        std::string what = "Sentinel \"" + std::string(item) + "\"";
        if (!split_host_port(item, host, port, has_port, what.c_str(), error)) return std::nullopt;
        if (host.find_first_of(" /@") != std::string_view::npos) {
            *error = what + " is not host[:port]";
            return std::nullopt;
        }
        HostPort hp{std::string(host), kDefaultSentinelPort};
        if (has_port && !parse_int(port, 1, 65535, hp.port)) {
            *error = what + ": port must be a number from 1 to 65535";
            return std::nullopt;
        }
        for (const HostPort &seen : out)
            if (seen == hp) {
                *error = what + " is listed twice";
                return std::nullopt;
            }
        out.push_back(std::move(hp));
        if (out.size() > kMaxSentinels) {
            *error = "Sentinel list has more than 16 entries";
            return std::nullopt;
        }
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
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
    std::string_view host, port;
    bool has_port = false;
    if (!split_host_port(hostport, host, port, has_port, "Redis URL", error)) return std::nullopt;
    url.host = std::string(host);
    if (has_port) {
        if (!parse_int(port, 1, 65535, url.port)) {
            *error = "Redis URL port must be a number from 1 to 65535, not \"" + std::string(port) + "\"";
            return std::nullopt;
        }
    }
    return url;
}

std::optional<std::string> read_secret_file(const std::string &path, std::string *error) {
    constexpr size_t kMaxSecretBytes = 4096;
    struct stat st {};
    if (path.empty()) {
        *error = "the file name is empty";
        return std::nullopt;
    }
    if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        *error = "cannot read \"" + path + "\": not a regular file that exists";
        return std::nullopt;
    }
    if (st.st_mode & S_IRWXO) {
        *error = "\"" + path + "\" is accessible by others: chmod 600 (or 640 for a group) it";
        return std::nullopt;
    }
    if (static_cast<size_t>(st.st_size) > kMaxSecretBytes) {
        *error = "\"" + path + "\" is over 4 KiB: it must hold the secret alone";
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
        *error = "cannot read \"" + path + "\"";
        return std::nullopt;
    }
    if (!secret.empty() && secret.back() == '\n') secret.pop_back();
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (secret.empty()) {
        *error = "\"" + path + "\" is empty";
        return std::nullopt;
    }
    if (secret.size() > kMaxSecretBytes || secret.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
        *error = "\"" + path + "\" holds more than one line: it must hold the secret alone";
        return std::nullopt;
    }
    return secret;
}

}  // namespace livesync::common
