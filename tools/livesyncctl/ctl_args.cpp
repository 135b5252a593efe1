#include "tools/livesyncctl/ctl_args.hpp"
#include "tools/livesyncctl/dev_token.hpp"

#include <cctype>
#include <cstdlib>

#include "common/change_batch.hpp"

namespace livesync::ctl {

namespace {

bool is_integer(const std::string &s, bool positive) {
    if (s.empty() || s.size() > 18) return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    return !positive || std::strtoll(s.c_str(), nullptr, 10) > 0;
}

std::string json_field(const std::string &key, const std::string &value) {
    std::string out = "{";
    common::append_json_string(out, key);
    out += ':';
    common::append_json_string(out, value);
    out += '}';
    return out;
}

// Percent-encodes everything but unreserved characters and ':' (IPv6 addresses).
std::string path_segment(const std::string &s) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

}  // namespace

std::string ctl_usage() {
    return "usage: livesyncctl [--url http://127.0.0.1:8080] [--token T] COMMAND\n"
           "  sessions                   the sessions this sidecar holds\n"
           "  kick --client ID           close one client's session (every sidecar)\n"
           "  kick --user SUB            close every session of a user (every sidecar)\n"
           "  ban ADDRESS SECONDS        refuse connections from ADDRESS (every sidecar)\n"
           "  unban ADDRESS              lift a ban\n"
           "  bans                       the bans in force\n"
           "  activity [--since UNIX]    per user and tenant: sessions, messages, last seen\n"
           "The token may come from LIVESYNC_ADMIN_TOKEN. Prints the answer's JSON on stdout.\n" +
           token_usage() +
           "Exit status: 0 done, 1 the sidecar refused or could not be reached, 2 bad arguments.\n";
}

ParsedArgs parse_ctl_args(const std::vector<std::string> &args, const char *env_token) {
    Invocation inv;
    if (env_token) inv.token = env_token;
    std::vector<std::string> rest;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string &a = args[i];
        if (a == "--help" || a == "-h") return Help{};
        if (a == "--url" || a == "--token") {
            if (i + 1 >= args.size()) return UsageError{a + " needs a value"};
            (a == "--url" ? inv.url : inv.token) = args[++i];
        } else if (a.rfind("--url=", 0) == 0) {
            inv.url = a.substr(6);
        } else if (a.rfind("--token=", 0) == 0) {
            inv.token = a.substr(8);
        } else {
            rest.push_back(a);
        }
    }
    if (inv.url.rfind("http://", 0) != 0 && inv.url.rfind("https://", 0) != 0)
        return UsageError{"--url must start with http:// or https://, not \"" + inv.url + "\""};
    while (!inv.url.empty() && inv.url.back() == '/') inv.url.pop_back();
    if (inv.token.empty()) return UsageError{"no admin token: pass --token or set LIVESYNC_ADMIN_TOKEN"};
    if (rest.empty()) return UsageError{"no command given"};
    const std::string cmd = rest[0];
    auto arity = [&](size_t n) { return rest.size() == n + 1; };
    if (cmd == "sessions" && arity(0)) {
        inv.method = "GET";
        inv.path = "/v1/admin/sessions";
    } else if (cmd == "bans" && arity(0)) {
        inv.method = "GET";
        inv.path = "/v1/admin/bans";
    } else if (cmd == "kick" && arity(2) && (rest[1] == "--client" || rest[1] == "--user") && !rest[2].empty()) {
        inv.method = "POST";
        inv.path = "/v1/admin/kick";
        inv.body = json_field(rest[1] == "--client" ? "client_id" : "user", rest[2]);
    } else if (cmd == "kick") {
        return UsageError{"kick needs --client ID or --user SUB"};
    } else if (cmd == "ban" && arity(2)) {
        if (!is_integer(rest[2], true)) return UsageError{"ban: SECONDS must be a positive integer, not \"" + rest[2] + "\""};
        inv.method = "POST";
        inv.path = "/v1/admin/bans";
        inv.body = "{\"address\":";
        common::append_json_string(inv.body, rest[1]);
        inv.body += ",\"seconds\":" + rest[2] + "}";
    } else if (cmd == "ban") {
        return UsageError{"ban needs ADDRESS SECONDS"};
    } else if (cmd == "unban" && arity(1) && !rest[1].empty()) {
        inv.method = "DELETE";
        inv.path = "/v1/admin/bans/" + path_segment(rest[1]);
    } else if (cmd == "unban") {
        return UsageError{"unban needs ADDRESS"};
    } else if (cmd == "activity" && (arity(0) || (arity(2) && rest[1] == "--since"))) {
        inv.method = "GET";
        inv.path = "/v1/admin/activity";
        if (arity(2)) {
            if (!is_integer(rest[2], false)) return UsageError{"--since must be unix seconds, not \"" + rest[2] + "\""};
            inv.path += "?since=" + rest[2];
        }
    } else if (cmd == "activity") {
        return UsageError{"activity takes only --since UNIX"};
    } else {
        return UsageError{"unknown command or wrong arguments: \"" + cmd + "\""};
    }
    return inv;
}

}  // namespace livesync::ctl
