#include "sidecar/admin/admin_api.hpp"

#include <rapidjson/document.h>

#include <cctype>
#include <cstdlib>

#include "common/change_batch.hpp"
#include "sidecar/auth/authenticator.hpp"

namespace livesync::admin {

namespace {

http::HttpResponse bad(std::string_view message) { return http::http_error(400, "bad_request", message); }

void append_opt(std::string &out, const std::string *v) {
    if (v) common::append_json_string(out, *v);
    else out += "null";
}

}  // namespace

bool valid_address(std::string_view a) {
    if (a.empty() || a.size() > 64) return false;
    for (unsigned char c : a)
        if (!std::isalnum(c) && c != '.' && c != ':' && c != '%' && c != '-' && c != '_') return false;
    return true;
}

AdminRequest parse_admin(std::string_view method, std::string_view path, const std::string *since,
                         std::string_view body) {
    if (path.substr(0, kAdminPrefix.size()) != kAdminPrefix) return http::http_error(404, "not_found", "no such path");
    std::string_view rest = path.substr(kAdminPrefix.size());
    auto only = [&](std::string_view allowed) -> std::optional<http::HttpResponse> {
        if (method == allowed) return std::nullopt;
        return http::http_error(405, "method_not_allowed", "use " + std::string(allowed));
    };
    if (rest == "sessions") {
        if (auto e = only("GET")) return *e;
        return ListSessions{};
    }
    if (rest == "activity") {
        if (auto e = only("GET")) return *e;
        Activity a;
        if (since) {
            char *end = nullptr;
            long long v = std::strtoll(since->c_str(), &end, 10);
            if (since->empty() || *end != '\0' || v < 0) return bad("since must be unix seconds (an integer >= 0)");
            a.since = v;
        }
        return a;
    }
    if (rest == "bans" && method == "GET") return ListBans{};
    if (rest.substr(0, 5) == "bans/") {
        if (auto e = only("DELETE")) return *e;
        std::string address(rest.substr(5));
        if (!valid_address(address)) return bad("not an address: " + address);
        return Unban{address};
    }
    if (rest != "kick" && rest != "bans") return http::http_error(404, "not_found", "no such admin path");
    if (auto e = only("POST")) return *e;
    rapidjson::Document d;
    d.Parse(body.data(), body.size());
    if (d.HasParseError() || !d.IsObject()) return http::http_error(400, "bad_json", "the body must be a JSON object");
    auto text = [&](const char *k) -> std::optional<std::string> {
        auto it = d.FindMember(k);
        if (it == d.MemberEnd() || !it->value.IsString()) return std::nullopt;
        return std::string(it->value.GetString(), it->value.GetStringLength());
    };
    if (rest == "kick") {
        Kick k;
        auto id = text("client_id"), user = text("user");
        if (id.has_value() == user.has_value() || (id && id->empty()) || (user && user->empty()))
            return bad("give exactly one of client_id and user, as a non-empty string");
        if (id) k.client_id = *id;
        if (user) k.user = *user;
        return k;
    }
    Ban b;
    auto address = text("address");
    if (!address || !valid_address(*address)) return bad("address must be an IP address as a string");
    auto it = d.FindMember("seconds");
    if (it == d.MemberEnd() || !it->value.IsInt64() || it->value.GetInt64() < 1 ||
        it->value.GetInt64() > kMaxBanSeconds)
        return bad("seconds must be an integer from 1 to " + std::to_string(kMaxBanSeconds));
    b.address = *address;
    b.seconds = it->value.GetInt64();
    return b;
}

std::string render_sessions(session::SessionTable &sessions, const std::string &sidecar_id) {
    return render_sessions(std::vector<std::string>{render_session_items(sessions)}, sidecar_id);
}

std::string render_sessions(const std::vector<std::string> &items, const std::string &sidecar_id) {
    std::string out = "{\"sidecar\":";
    common::append_json_string(out, sidecar_id);
    out += ",\"sessions\":[";
    bool first = true;
    for (const std::string &part : items) {
        if (part.empty()) continue;
        if (!first) out += ',';
        first = false;
        out += part;
    }
    out += "]}";
    return out;
}

std::string render_session_items(session::SessionTable &sessions) {
    std::string out;
    bool first = true;
    sessions.for_each([&](session::Session &s) {
        if (!first) out += ',';
        first = false;
        const rules::Identity *id = s.identity();
        out += "{\"client_id\":";
        append_opt(out, s.greeted() ? &s.client_id() : nullptr);
        out += ",\"user\":";
        append_opt(out, id && !id->anonymous ? &id->subject : nullptr);
        out += ",\"tenant\":";
        append_opt(out, id && id->tenant ? &*id->tenant : nullptr);
        out += ",\"role\":";
        append_opt(out, id ? &id->role : nullptr);
        out += ",\"address\":";
        common::append_json_string(out, s.address());
        out += ",\"connected_at\":" + std::to_string(s.connected_at_ms() / 1000) + ",\"subscriptions\":[";
        bool first_sub = true;
        for (const auto &[table, subs] : s.subs_by_table())
            for (const auto &e : subs) {
                if (!first_sub) out += ',';
                first_sub = false;
                out += "{\"id\":";
                common::append_json_string(out, e.id);
                out += ",\"table\":";
                common::append_json_string(out, table);
                out += '}';
            }
        out += "]}";
    });
    return out;
}

}  // namespace livesync::admin
