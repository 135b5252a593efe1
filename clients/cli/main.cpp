// livesync-cli main: one lws client connection, writes only from
// LWS_CALLBACK_CLIENT_WRITEABLE, one JSON line per received change on stdout.
#include <libwebsockets.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>
#include <string>

#include "clients/cli/cli_options.hpp"
#include "clients/cli/msgpack_json.hpp"
#include "common/change_batch.hpp"
#include "sidecar/protocol/encoding.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"

namespace livesync::cli {
namespace {

volatile std::sig_atomic_t interrupted = 0;

struct App {
    CliOptions options;
    std::deque<std::string> outgoing;  // JSON frames waiting for CLIENT_WRITEABLE
    std::string rx;
    long changes_seen = 0;
    bool closing = false;   // a close was asked for; the next WRITEABLE closes
    bool finished = false;  // the loop may end
    int exit_code = 0;
    struct lws *wsi = nullptr;
    lws_sorted_usec_list_t timeout_sul;
    // A hello answered not_ready (the sidecar has not read the stream yet, or cannot
    // check the client id's owner) was not taken: it is sent again after a backoff.
    std::string hello;
    bool welcomed = false;
    lws_usec_t hello_backoff_us = 0;
    lws_sorted_usec_list_t hello_retry_sul;
    // --snapshot: subscriptions re-made after resync_required, whose frames are dropped
    // until their new `subscribed` (then rows, snapshot_end, changes follow in order).
    std::set<std::string> resyncing;
};

App *app_of(struct lws *wsi) { return static_cast<App *>(lws_context_user(lws_get_context(wsi))); }

void fail(App &app, const std::string &message) {
    std::fprintf(stderr, "livesync-cli: %s\n", message.c_str());
    app.exit_code = 1;
    app.finished = true;
}

void close_normally(App &app) {
    if (app.closing || app.finished) return;
    app.closing = true;
    if (app.wsi) lws_callback_on_writable(app.wsi);
    else app.finished = true;
}

void on_timeout(lws_sorted_usec_list_t *sul) {
    App *app = lws_container_of(sul, App, timeout_sul);
    std::fprintf(stderr, "livesync-cli: timeout after %ld changes\n", app->changes_seen);
    close_normally(*app);
}

constexpr lws_usec_t kFirstHelloRetryUs = 100 * 1000;
constexpr lws_usec_t kMaxHelloRetryUs = 2 * LWS_US_PER_SEC;

void send_hello(App &app) {
    if (app.wsi == nullptr || app.closing || app.finished) return;
    app.outgoing.push_back(app.hello);
    lws_callback_on_writable(app.wsi);
}

void on_hello_retry(lws_sorted_usec_list_t *sul) {
    App *app = lws_container_of(sul, App, hello_retry_sul);
    send_hello(*app);
}

// The documented answer to not_ready: send the hello again, later (doubling, at most 2 s).
void retry_hello(App &app, const std::string &message) {
    app.hello_backoff_us = app.hello_backoff_us ? std::min(app.hello_backoff_us * 2, kMaxHelloRetryUs)
                                                : kFirstHelloRetryUs;
    std::fprintf(stderr, "not_ready: %s; sending hello again in %lld ms\n", message.c_str(),
                 static_cast<long long>(app.hello_backoff_us / 1000));
    lws_sul_schedule(lws_get_context(app.wsi), 0, &app.hello_retry_sul, on_hello_retry, app.hello_backoff_us);
}

std::string json_string(const std::string &s) {
    std::string out;
    common::append_json_string(out, s);
    return out;
}

// {"lsn":..,"xid":..,"commit_time":.., <the change's own fields>}
void print_changes(App &app, const rapidjson::Document &doc) {
    auto changes = doc.FindMember("changes");
    if (changes == doc.MemberEnd() || !changes->value.IsArray()) return;
    for (const auto &change : changes->value.GetArray()) {
        if (!app.resyncing.empty() && change.IsObject() && change.HasMember("sub") && change["sub"].IsArray()) {
            bool all_resyncing = true;  // dropped: those subscriptions start over from a snapshot
            for (const auto &id : change["sub"].GetArray())
                if (!id.IsString() || !app.resyncing.count(id.GetString())) all_resyncing = false;
            if (all_resyncing) continue;
        }
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        for (const char *key : {"lsn", "xid", "commit_time"}) {
            auto it = doc.FindMember(key);
            if (it == doc.MemberEnd()) continue;
            w.Key(key);
            it->value.Accept(w);
        }
        if (change.IsObject()) {
            for (const auto &m : change.GetObject()) {
                w.Key(m.name.GetString(), m.name.GetStringLength());
                m.value.Accept(w);
            }
        }
        w.EndObject();
        std::fwrite(buf.GetString(), 1, buf.GetSize(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        ++app.changes_seen;
        if (app.options.count && app.changes_seen >= *app.options.count) {
            close_normally(app);
            return;
        }
    }
}

// Queues a client frame built as JSON, in the connection's encoding.
void send_frame(App &app, const std::string &json) {
    if (app.wsi == nullptr || app.closing || app.finished) return;
    app.outgoing.push_back(app.options.msgpack ? *protocol::json_to_msgpack(json) : json);
    lws_callback_on_writable(app.wsi);
}

std::string table_subscription(const App &app, size_t i, bool snapshot) {
    std::string out = "{\"id\":\"s" + std::to_string(i + 1) + "\",\"table\":" + json_string(app.options.tables[i]);
    if (snapshot) out += ",\"snapshot\":true";
    return out + "}";
}

void print_line(App &app, const std::string &line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    ++app.changes_seen;
    if (app.options.count && app.changes_seen >= *app.options.count) close_normally(app);
}

// {"op":"snapshot","sub":[id],"new":{row}} per row of a snapshot_rows frame.
void print_snapshot_rows(App &app, const rapidjson::Document &doc) {
    auto id = doc.FindMember("id");
    auto rows = doc.FindMember("rows");
    if (id == doc.MemberEnd() || !id->value.IsString() || rows == doc.MemberEnd() || !rows->value.IsArray()) return;
    if (app.resyncing.count(id->value.GetString())) return;
    for (const auto &row : rows->value.GetArray()) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("op");
        w.String("snapshot");
        w.Key("sub");
        w.StartArray();
        id->value.Accept(w);
        w.EndArray();
        w.Key("new");
        row.Accept(w);
        w.EndObject();
        print_line(app, std::string(buf.GetString(), buf.GetSize()));
        if (app.closing || app.finished) return;
    }
}

// resync_required with --snapshot: every table subscription starts over from a snapshot.
void resync_tables(App &app) {
    for (size_t i = 0; i < app.options.tables.size(); ++i) {
        std::string id = "s" + std::to_string(i + 1);
        print_line(app, "{\"op\":\"reset\",\"sub\":[\"" + id + "\"]}");
        app.resyncing.insert(id);
        send_frame(app, "{\"type\":\"unsubscribe\",\"id\":\"" + id + "\"}");
        send_frame(app, "{\"type\":\"subscribe\"," + table_subscription(app, i, true).substr(1));
    }
}

void on_message(App &app, const std::string &text) {
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("type") || !doc["type"].IsString()) {
        fail(app, "server sent a frame that is not a protocol message: " + text.substr(0, 200));
        return;
    }
    std::string type = doc["type"].GetString();
    auto str = [&](const char *key) {
        auto it = doc.FindMember(key);
        return it != doc.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string();
    };
    if (type == "welcome") {
        app.welcomed = true;
        std::fprintf(stderr, "welcome %s %s %s\n", str("client_id").c_str(), str("sidecar").c_str(),
                     str("lsn").c_str());
    } else if (type == "subscribed") {
        app.resyncing.erase(str("id"));
        std::string what = str("table").empty() ? "channel:" + str("channel") : str("table");
        std::fprintf(stderr, "subscribed %s %s\n", what.c_str(), str("lsn").c_str());
    } else if (type == "caught_up" || type == "resync_required") {
        std::fprintf(stderr, "%s %s\n", type.c_str(), str("lsn").c_str());
        if (type == "resync_required" && app.options.snapshot) resync_tables(app);
    } else if (type == "snapshot_rows") {
        print_snapshot_rows(app, doc);
    } else if (type == "snapshot_end" || type == "snapshot_waiting") {
        std::fprintf(stderr, "%s %s %s\n", type.c_str(), str("id").c_str(),
                     type == "snapshot_end" ? str("lsn").c_str() : "");
        // On stdout too, in order with the rows and changes: the copy is whole from here.
        if (type == "snapshot_end" && !app.resyncing.count(str("id")))
            print_line(app, "{\"op\":\"snapshot_end\",\"sub\":[" + json_string(str("id")) + "],\"lsn\":" +
                                json_string(str("lsn")) + "}");
    } else if (type == "changes") {
        // A schema change (DDL on a subscribed table) also gets a line for people on stderr:
        // "schema <schema>.<table> <column>:<type>,..." (stdout has it as a change line).
        auto text_of = [](const rapidjson::Value &o, const char *key) {
            auto it = o.FindMember(key);
            return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString()) : std::string("?");
        };
        auto changes = doc.FindMember("changes");
        if (changes != doc.MemberEnd() && changes->value.IsArray())
            for (const auto &c : changes->value.GetArray()) {
                if (!c.IsObject() || text_of(c, "op") != "schema" || !c.HasMember("columns") || !c["columns"].IsArray())
                    continue;
                std::string line = "schema " + text_of(c, "schema") + "." + text_of(c, "table") + " ";
                for (const auto &col : c["columns"].GetArray())
                    if (col.IsObject()) line += text_of(col, "name") + ":" + text_of(col, "type") + ",";
                line.back() = '\n';
                std::fputs(line.c_str(), stderr);
            }
        print_changes(app, doc);
    } else if (type == "error" && str("code") == "not_ready" && !app.welcomed && app.wsi != nullptr) {
        retry_hello(app, str("message"));
    } else if (type == "error") {
        fail(app, "server error " + str("code") + ": " + str("message"));
    } else if (type == "unsubscribed" && !str("reason").empty()) {
        // The server ended a subscription (grant revoked, table unpublished).
        fail(app, "subscription " + str("id") + " ended by the server: " + str("reason") + ": " + str("message"));
    }
}

int callback(struct lws *wsi, enum lws_callback_reasons reason, void *, void *in, size_t len) {
    App &app = *app_of(wsi);
    switch (reason) {
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            app.wsi = nullptr;
            fail(app, std::string("cannot connect: ") + (in ? static_cast<const char *>(in) : "unknown error"));
            return 0;

        case LWS_CALLBACK_CLIENT_ESTABLISHED: {
            std::string hello = "{\"type\":\"hello\"";
            if (app.options.client_id) hello += ",\"client_id\":" + json_string(*app.options.client_id);
            if (app.options.last_lsn) hello += ",\"last_lsn\":" + json_string(*app.options.last_lsn);
            if (app.options.token) hello += ",\"token\":" + json_string(*app.options.token);
            // Subscriptions ride in the hello, so a resume replays for them.
            // A resume has its state: a snapshot only for a fresh start.
            hello += ",\"subscriptions\":[";
            for (size_t i = 0; i < app.options.tables.size(); ++i) {
                if (i) hello += ',';
                hello += table_subscription(app, i, app.options.snapshot && !app.options.last_lsn);
            }
            for (size_t i = 0; i < app.options.channels.size(); ++i) {
                if (i || !app.options.tables.empty()) hello += ',';
                hello += "{\"id\":\"c" + std::to_string(i + 1) + "\",\"channel\":" + json_string(app.options.channels[i]) + "}";
            }
            hello += "]}";
            // The same hello as a msgpack map on livesync.v1.msgpack.
            app.hello = app.options.msgpack ? *protocol::json_to_msgpack(hello) : hello;
            send_hello(app);
            return 0;
        }

        case LWS_CALLBACK_CLIENT_WRITEABLE: {
            if (app.closing) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
                return -1;
            }
            if (app.outgoing.empty()) return 0;
            std::string buf(LWS_PRE, '\0');
            buf += app.outgoing.front();
            app.outgoing.pop_front();
            size_t n = buf.size() - LWS_PRE;
            if (lws_write(wsi, reinterpret_cast<unsigned char *>(buf.data()) + LWS_PRE, n,
                          app.options.msgpack ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < static_cast<int>(n))
                return -1;
            if (!app.outgoing.empty()) lws_callback_on_writable(wsi);
            return 0;
        }

        case LWS_CALLBACK_CLIENT_RECEIVE:
            if (lws_is_first_fragment(wsi)) app.rx.clear();
            app.rx.append(static_cast<const char *>(in), len);
            if (lws_is_final_fragment(wsi)) {
                std::string message;
                message.swap(app.rx);
                if (app.options.msgpack) {
                    std::string error;
                    auto json = lws_frame_is_binary(wsi) ? msgpack_to_json(message, &error) : std::nullopt;
                    if (!json) {
                        fail(app, lws_frame_is_binary(wsi) ? "server sent bad msgpack: " + error
                                                           : "server sent a text frame on livesync.v1.msgpack");
                        return -1;
                    }
                    message = std::move(*json);
                }
                on_message(app, message);
                if (app.finished) return -1;
            }
            return 0;

        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
            if (!app.closing && !app.finished) {
                const auto *p = static_cast<const unsigned char *>(in);
                unsigned code = len >= 2 ? (p[0] << 8) | p[1] : 0;
                std::string reason = len > 2 ? std::string(reinterpret_cast<const char *>(p + 2), len - 2) : "";
                fail(app, "server closed the connection: " + std::to_string(code) + " " + reason);
            }
            return 0;

        case LWS_CALLBACK_CLIENT_CLOSED:
            app.wsi = nullptr;
            if (!app.closing && !app.finished) fail(app, "connection closed");
            app.finished = true;
            return 0;

        default: return 0;
    }
}

const struct lws_protocols kProtocols[] = {
    {protocol::kJsonSubprotocol, callback, 0, 0, 0, nullptr, 0},
    {protocol::kMsgpackSubprotocol, callback, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

void on_signal(int) { interrupted = 1; }

}  // namespace
}  // namespace livesync::cli

int main(int argc, char **argv) {
    using namespace livesync::cli;
    auto parsed = parse_cli_options(std::vector<std::string>(argv + 1, argv + argc));
    if (std::holds_alternative<CliHelp>(parsed)) {
        std::fputs(cli_usage().c_str(), stdout);
        return 0;
    }
    if (auto *err = std::get_if<CliError>(&parsed)) {
        std::fprintf(stderr, "livesync-cli: %s\n%s", err->message.c_str(), cli_usage().c_str());
        return 2;
    }
    App app;
    app.options = std::get<CliOptions>(parsed);
    std::memset(&app.timeout_sul, 0, sizeof app.timeout_sul);
    std::memset(&app.hello_retry_sul, 0, sizeof app.hello_retry_sul);

    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  // no SA_RESTART: poll() returns and the loop sees the flag
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    lws_set_log_level(LLL_ERR, nullptr);
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    info.user = &app;
    if (app.options.tls) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        if (app.options.ca_file) info.client_ssl_ca_filepath = app.options.ca_file->c_str();
    }
    struct lws_context *context = lws_create_context(&info);
    if (context == nullptr) {
        std::fprintf(stderr, "livesync-cli: cannot create the lws context\n");
        return 1;
    }

    struct lws_client_connect_info ci;
    std::memset(&ci, 0, sizeof ci);
    ci.context = context;
    ci.address = app.options.host.c_str();
    ci.port = app.options.port;
    ci.path = app.options.path.c_str();
    ci.host = app.options.host.c_str();
    ci.origin = app.options.host.c_str();
    ci.protocol = app.options.msgpack ? livesync::protocol::kMsgpackSubprotocol : livesync::protocol::kJsonSubprotocol;
    ci.pwsi = &app.wsi;
    // wss: the server's certificate must chain to a trusted CA and name the host.
    if (app.options.tls) ci.ssl_connection = LCCSCF_USE_SSL;
    if (lws_client_connect_via_info(&ci) == nullptr && !app.finished)
        fail(app, "cannot connect to " + app.options.host + ":" + std::to_string(app.options.port));

    if (app.options.timeout_seconds)
        lws_sul_schedule(context, 0, &app.timeout_sul, on_timeout,
                         static_cast<lws_usec_t>(*app.options.timeout_seconds * LWS_US_PER_SEC));

    while (!app.finished) {
        if (interrupted) close_normally(app);
        if (lws_service(context, 0) < 0) break;
    }
    lws_sul_cancel(&app.timeout_sul);
    lws_sul_cancel(&app.hello_retry_sul);
    lws_context_destroy(context);
    return app.exit_code;
}
