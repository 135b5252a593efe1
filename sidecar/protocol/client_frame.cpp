#include "sidecar/protocol/client_frame.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "common/lsn.hpp"
#include "sidecar/protocol/client_document.hpp"

namespace livesync::protocol {

namespace {

// Iterative parsing: a deeply nested frame cannot exhaust the lws thread's stack.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

FrameError bad_request(std::string message, std::optional<std::string> id = std::nullopt) {
    return FrameError{"bad_request", std::move(message), std::move(id)};
}

// Client ids and subscription ids end up in Redis keys and log lines: keep them short
// and printable.
// Echoes of client input inside error messages stay short.
std::string shorten(std::string_view text) {
    if (text.size() <= 64) return std::string(text);
    size_t cut = 64;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    return std::string(text.substr(0, cut)) + "...";
}

bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdLength) return false;
    for (unsigned char c : id)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

// Reads an optional string member; returns false (and sets *err) if present but wrong.
bool optional_string(const rapidjson::Value &doc, const char *name, std::optional<std::string> &out,
                     std::optional<FrameError> &err, const std::optional<std::string> &id) {
    auto it = doc.FindMember(name);
    if (it == doc.MemberEnd() || it->value.IsNull()) return true;
    if (!it->value.IsString()) {
        err = bad_request(std::string("field \"") + name + "\" must be a string", id);
        return false;
    }
    out.emplace(it->value.GetString(), it->value.GetStringLength());
    return true;
}

bool required_string(const rapidjson::Value &doc, const char *name, std::string &out,
                     std::optional<FrameError> &err, const std::optional<std::string> &id) {
    std::optional<std::string> v;
    if (!optional_string(doc, name, v, err, id)) return false;
    if (!v) {
        err = bad_request(std::string("field \"") + name + "\" is required", id);
        return false;
    }
    out = std::move(*v);
    return true;
}

ClientFrame parse_subscribe(const rapidjson::Value &doc);

ClientFrame parse_hello(const rapidjson::Value &doc) {
    Hello hello;
    std::optional<FrameError> err;
    if (!optional_string(doc, "client_id", hello.client_id, err, std::nullopt)) return *err;
    if (hello.client_id && !valid_id(*hello.client_id))
        return bad_request("field \"client_id\" must be 1 to 128 printable ASCII characters without spaces");
    std::optional<std::string> lsn_text;
    if (!optional_string(doc, "last_lsn", lsn_text, err, std::nullopt)) return *err;
    if (lsn_text) {
        hello.last_lsn = common::parse_lsn(*lsn_text);
        if (!hello.last_lsn)
            return bad_request("field \"last_lsn\" must be an LSN like \"0/16B3748\", not \"" + shorten(*lsn_text) + "\"");
    }
    auto subs = doc.FindMember("subscriptions");
    if (subs != doc.MemberEnd() && !subs->value.IsNull()) {
        if (!subs->value.IsArray()) return bad_request("field \"subscriptions\" must be an array");
        if (subs->value.Size() > kMaxHelloSubscriptions)
            return bad_request("field \"subscriptions\" holds more than " + std::to_string(kMaxHelloSubscriptions));
        for (const auto &item : subs->value.GetArray()) {
            if (!item.IsObject()) return bad_request("each of \"subscriptions\" must be {\"id\":..,\"table\":..}");
            ClientFrame sub = parse_subscribe(item);
            if (auto *e = std::get_if<FrameError>(&sub)) {
                e->message = "subscriptions: " + e->message;
                return *e;
            }
            hello.subscriptions.push_back(std::move(std::get<Subscribe>(sub)));
        }
    }
    if (!optional_string(doc, "token", hello.token, err, std::nullopt)) return *err;
    return hello;
}

// Bounds recursion before anything recursive (Accept) walks a client's value.
bool depth_at_most(const rapidjson::Value &v, int depth) {
    if (depth < 0) return false;
    if (v.IsObject()) {
        for (const auto &m : v.GetObject())
            if (!depth_at_most(m.value, depth - 1)) return false;
    } else if (v.IsArray()) {
        for (const auto &e : v.GetArray())
            if (!depth_at_most(e, depth - 1)) return false;
    }
    return true;
}

std::optional<FrameError> parse_scope(const rapidjson::Value &doc, Subscribe &sub) {
    if (auto f = doc.FindMember("filter"); f != doc.MemberEnd() && !f->value.IsNull()) {
        if (!f->value.IsObject()) return bad_request("field \"filter\" must be a filter tree object", sub.id);
        if (!depth_at_most(f->value, 2 * 64 + 4)) return bad_request("field \"filter\" is nested too deeply", sub.id);
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
        f->value.Accept(writer);
        std::string error;
        sub.filter = common::parse_filter(std::string_view(buf.GetString(), buf.GetSize()), &error);
        if (!sub.filter) return bad_request("field \"filter\": " + error, sub.id);
    }
    if (auto c = doc.FindMember("columns"); c != doc.MemberEnd() && !c->value.IsNull()) {
        if (!c->value.IsArray() || c->value.Empty() || c->value.Size() > kMaxSubscriptionColumns)
            return bad_request("field \"columns\" must be a non-empty array of column names", sub.id);
        std::vector<std::string> names;
        for (const auto &name : c->value.GetArray()) {
            if (!name.IsString() || name.GetStringLength() == 0 || name.GetStringLength() > 63)
                return bad_request("field \"columns\" must be a non-empty array of column names", sub.id);
            names.emplace_back(name.GetString(), name.GetStringLength());
        }
        sub.columns = std::move(names);
    }
    return std::nullopt;
}

ClientFrame parse_subscribe(const rapidjson::Value &doc) {
    Subscribe sub;
    std::optional<FrameError> err;
    if (!required_string(doc, "id", sub.id, err, std::nullopt)) return *err;
    if (!valid_id(sub.id))
        return bad_request("field \"id\" must be 1 to 128 printable ASCII characters without spaces");
    auto channel = doc.FindMember("channel");
    if ((channel != doc.MemberEnd()) == doc.HasMember("table"))
        return bad_request("subscribe needs exactly one of \"table\" and \"channel\"", sub.id);
    if (channel != doc.MemberEnd()) {
        const rapidjson::Value &v = channel->value;
        if (!v.IsString() || v.GetStringLength() == 0 || v.GetStringLength() > kMaxChannelLength ||
            std::string_view(v.GetString(), v.GetStringLength()).find('\0') != std::string_view::npos)
            return bad_request("field \"channel\" must be a string of 1 to " + std::to_string(kMaxChannelLength) +
                                   " bytes without NUL",
                               sub.id);
        for (const char *scope : {"filter", "columns", "snapshot"})
            if (auto m = doc.FindMember(scope); m != doc.MemberEnd() && !m->value.IsNull())
                return bad_request(std::string("a channel subscription takes no \"") + scope + "\"", sub.id);
        sub.channel = std::string(v.GetString(), v.GetStringLength());
        return sub;
    }
    std::string table;
    if (!required_string(doc, "table", table, err, sub.id)) return *err;
    auto qualified = qualify_table(table);
    if (!qualified) return bad_request("field \"table\" must be \"table\" or \"schema.table\"", sub.id);
    sub.table = std::move(*qualified);
    if (auto scope_error = parse_scope(doc, sub)) return *scope_error;
    if (auto snap = doc.FindMember("snapshot"); snap != doc.MemberEnd() && !snap->value.IsNull()) {
        if (!snap->value.IsBool()) return bad_request("field \"snapshot\" must be true or false", sub.id);
        sub.snapshot = snap->value.GetBool();
    }
    return sub;
}

ClientFrame parse_unsubscribe(const rapidjson::Value &doc) {
    Unsubscribe unsub;
    std::optional<FrameError> err;
    if (!required_string(doc, "id", unsub.id, err, std::nullopt)) return *err;
    if (!valid_id(unsub.id))
        return bad_request("field \"id\" must be 1 to 128 printable ASCII characters without spaces");
    return unsub;
}

ClientFrame parse_auth(const rapidjson::Value &doc) {
    Auth auth;
    std::optional<FrameError> err;
    if (!required_string(doc, "token", auth.token, err, std::nullopt)) return *err;
    if (auth.token.empty()) return bad_request("field \"token\" must not be empty");
    return auth;
}

ClientFrame parse_ping(const rapidjson::Value &doc) {
    Ping ping;
    auto it = doc.FindMember("ref");
    if (it != doc.MemberEnd()) {
        if (!it->value.IsString() && !it->value.IsNumber())
            return bad_request("field \"ref\" must be a string or a number");
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
        it->value.Accept(writer);
        ping.ref.emplace(buf.GetString(), buf.GetSize());
    }
    return ping;
}

}  // namespace

std::optional<std::string> qualify_table(std::string_view table) {
    if (table.empty() || table.size() > kMaxTableLength) return std::nullopt;
    auto dot = table.find('.');
    if (dot == std::string_view::npos) return "public." + std::string(table);
    if (dot == 0 || dot + 1 == table.size() || table.find('.', dot + 1) != std::string_view::npos)
        return std::nullopt;
    return std::string(table);
}

ClientFrame parse_client_frame(std::string_view text) {
    rapidjson::Document doc;
    doc.Parse<kParseFlags>(text.data(), text.size());
    if (doc.HasParseError()) {
        return FrameError{"bad_json",
                          std::string(rapidjson::GetParseError_En(doc.GetParseError())) + " at offset " +
                              std::to_string(doc.GetErrorOffset()),
                          std::nullopt};
    }
    if (!doc.IsObject()) return bad_request("frame must be a JSON object");
    return parse_client_document(doc);
}

ClientFrame parse_client_document(const rapidjson::Value &doc) {
    if (!doc.IsObject()) return bad_request("frame must be an object");
    auto type = doc.FindMember("type");
    if (type == doc.MemberEnd()) return bad_request("field \"type\" is required");
    if (!type->value.IsString()) return bad_request("field \"type\" must be a string");
    std::string_view t(type->value.GetString(), type->value.GetStringLength());
    if (t == "hello") return parse_hello(doc);
    if (t == "subscribe") return parse_subscribe(doc);
    if (t == "unsubscribe") return parse_unsubscribe(doc);
    if (t == "ping") return parse_ping(doc);
    if (t == "auth") return parse_auth(doc);
    return FrameError{"unknown_type", "unknown frame type \"" + shorten(t) + "\"", std::nullopt};
}

}  // namespace livesync::protocol
