// snapshot-clients: the load client of bench/snapshot (never a test). Opens N livesync
// WebSocket sessions at once in one process on one libwebsockets context, each saying
// hello with one subscription to --table with "snapshot": true, counts the rows of its
// snapshot_rows frames (without decoding the rows) and stops at its snapshot_end. Prints
// one JSON line:
//   clients, done (got snapshot_end), rows_min / rows_max (per client), total_s (first
//   connect to last snapshot_end), client_s {p50,max} (each client's connect to its
//   snapshot_end), bytes (total received), errors, generator_cpu_s.
//
// usage: snapshot-clients --url ws://127.0.0.1:8080/v1/sync --clients N --table items
//                         [--row-key id] [--timeout S] [--msgpack]
//
// JSON rows are counted as the occurrences of {"<row-key>": (the rows' first column);
// msgpack rows from the frame's "rows" array header.
#include <libwebsockets.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string url = "ws://127.0.0.1:8080/v1/sync";
    int clients = 1;
    std::string table = "items";
    std::string row_key = "id";
    double timeout_s = 600;
    bool msgpack = false;
};

struct Client {
    int index = 0;
    struct lws *wsi = nullptr;
    bool hello_sent = false;
    bool done = false;
    long rows = 0;
    std::string rx;
    Clock::time_point started, ended;
};

struct Bench {
    Options opt;
    std::string row_needle;
    std::vector<Client> clients;
    struct lws_context *context = nullptr;
    std::string host, path;
    int port = 0;
    int done = 0, errors = 0, closed = 0;
    unsigned long long bytes = 0;
};

Bench bench;

size_t count_of(std::string_view hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + needle.size())) ++n;
    return n;
}

// A msgpack str at p (fixstr / str8 / str16); returns its length and advances p, or -1.
long msgpack_str(const unsigned char *&p, const unsigned char *end) {
    if (p >= end) return -1;
    size_t n;
    if ((*p & 0xe0) == 0xa0) n = *p++ & 0x1f;
    else if (*p == 0xd9 && end - p >= 2) n = p[1], p += 2;
    else if (*p == 0xda && end - p >= 3) n = (size_t(p[1]) << 8) | p[2], p += 3;
    else return -1;
    if (static_cast<size_t>(end - p) < n) return -1;
    long len = static_cast<long>(n);
    p += n;
    return len;
}

// {"type":"snapshot_rows","id":..,"rows":[...]} as msgpack: the rows array's count; -1
// for any other frame.
long msgpack_snapshot_rows(std::string_view m) {
    static const char kHead[] = "\x83\xa4type\xadsnapshot_rows\xa2id";
    if (m.size() < sizeof kHead - 1 || std::memcmp(m.data(), kHead, sizeof kHead - 1) != 0) return -1;
    const unsigned char *p = reinterpret_cast<const unsigned char *>(m.data()) + sizeof kHead - 1;
    const unsigned char *end = reinterpret_cast<const unsigned char *>(m.data()) + m.size();
    if (msgpack_str(p, end) < 0 || msgpack_str(p, end) != 4) return -1;  // the id, then "rows"
    if (p >= end) return -1;
    if ((*p & 0xf0) == 0x90) return *p & 0x0f;
    if (*p == 0xdc && end - p >= 3) return (long(p[1]) << 8) | p[2];
    if (*p == 0xdd && end - p >= 5) return (long(p[1]) << 24) | (long(p[2]) << 16) | (long(p[3]) << 8) | p[4];
    return -1;
}

void finish(Client &c) {
    if (c.done) return;
    c.done = true;
    c.ended = Clock::now();
    ++bench.done;
}

void dispatch(Client &c, std::string_view m) {
    bench.bytes += m.size();
    if (bench.opt.msgpack) {
        long n = msgpack_snapshot_rows(m);
        if (n >= 0) {
            c.rows += n;
            return;
        }
        // Other frames are small: find their type by its bytes.
        if (m.find("\xacsnapshot_end") != std::string_view::npos) finish(c);
        else if (m.find("\xa5" "error") != std::string_view::npos) {
            ++bench.errors;
            std::fprintf(stderr, "snapshot-clients: client %d: error frame\n", c.index);
        }
        return;
    }
    if (m.rfind("{\"type\":\"snapshot_rows\"", 0) == 0) {
        c.rows += static_cast<long>(count_of(m, bench.row_needle));
    } else if (m.rfind("{\"type\":\"snapshot_end\"", 0) == 0) {
        finish(c);
    } else if (m.rfind("{\"type\":\"error\"", 0) == 0) {
        ++bench.errors;
        std::fprintf(stderr, "snapshot-clients: client %d: %.*s\n", c.index, static_cast<int>(m.size()), m.data());
    }
}

// {"type":"hello","client_id":..,"subscriptions":[{"id":"s1","table":..,"snapshot":true}]}
std::string hello(const std::string &client_id) {
    if (!bench.opt.msgpack)
        return "{\"type\":\"hello\",\"client_id\":\"" + client_id +
               "\",\"subscriptions\":[{\"id\":\"s1\",\"table\":\"" + bench.opt.table + "\",\"snapshot\":true}]}";
    auto str = [](std::string &out, const std::string &s) {
        out += static_cast<char>(0xd9);
        out += static_cast<char>(s.size());
        out += s;
    };
    std::string out;
    out += static_cast<char>(0x83);
    str(out, "type");
    str(out, "hello");
    str(out, "client_id");
    str(out, client_id);
    str(out, "subscriptions");
    out += static_cast<char>(0x91);
    out += static_cast<char>(0x83);
    str(out, "id");
    str(out, "s1");
    str(out, "table");
    str(out, bench.opt.table);
    str(out, "snapshot");
    out += static_cast<char>(0xc3);
    return out;
}

int callback(struct lws *wsi, enum lws_callback_reasons reason, void *, void *in, size_t len) {
    auto *c = static_cast<Client *>(lws_get_opaque_user_data(wsi));
    switch (reason) {
        case LWS_CALLBACK_CLIENT_ESTABLISHED: lws_callback_on_writable(wsi); return 0;
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
            if (!c || c->hello_sent) return 0;
            std::string h = hello("snap-" + std::to_string(c->index));
            std::string buf(LWS_PRE, '\0');
            buf += h;
            if (lws_write(wsi, reinterpret_cast<unsigned char *>(buf.data()) + LWS_PRE, h.size(),
                          bench.opt.msgpack ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < static_cast<int>(h.size()))
                return -1;
            c->hello_sent = true;
            return 0;
        }
        case LWS_CALLBACK_CLIENT_RECEIVE:
            if (!c) return 0;
            if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {
                dispatch(*c, std::string_view(static_cast<const char *>(in), len));
                return 0;
            }
            if (lws_is_first_fragment(wsi)) c->rx.clear();
            c->rx.append(static_cast<const char *>(in), len);
            if (lws_is_final_fragment(wsi)) dispatch(*c, c->rx);
            return 0;
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            ++bench.errors;
            std::fprintf(stderr, "snapshot-clients: connect %d failed: %s\n", c ? c->index : -1,
                         in ? static_cast<const char *>(in) : "?");
            if (c) c->wsi = nullptr;
            return 0;
        case LWS_CALLBACK_CLIENT_CLOSED:
            ++bench.closed;
            if (c) c->wsi = nullptr;
            return 0;
        default: return 0;
    }
}

const struct lws_protocols kProtocols[] = {
    {"livesync.v1.json", callback, 0, 1 << 16, 0, nullptr, 0},
    {"livesync.v1.msgpack", callback, 0, 1 << 16, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

bool parse(int argc, char **argv, Options &o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
        const char *v = nullptr;
        if (a == "--url" && (v = next())) o.url = v;
        else if (a == "--clients" && (v = next())) o.clients = std::atoi(v);
        else if (a == "--table" && (v = next())) o.table = v;
        else if (a == "--row-key" && (v = next())) o.row_key = v;
        else if (a == "--timeout" && (v = next())) o.timeout_s = std::atof(v);
        else if (a == "--msgpack") o.msgpack = true;
        else return false;
    }
    // Names go into the hello unescaped and as str8: keep them plain.
    for (const std::string *s : {&o.table, &o.row_key})
        if (s->size() > 200 || s->find_first_of("\"\\") != std::string::npos) return false;
    return o.clients > 0;
}

double cpu_seconds() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char **argv) {
    if (!parse(argc, argv, bench.opt)) {
        std::fprintf(stderr,
                     "usage: snapshot-clients --url URL --clients N --table T [--row-key id] [--timeout S] "
                     "[--msgpack]\n");
        return 2;
    }
    bench.row_needle = "{\"" + bench.opt.row_key + "\":";
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(bench.opt.clients) + 1024);
    setrlimit(RLIMIT_NOFILE, &rl);

    std::string url = bench.opt.url;
    const char *proto = nullptr, *address = nullptr, *path = nullptr;
    int port = 0;
    if (lws_parse_uri(url.data(), &proto, &address, &port, &path)) {
        std::fprintf(stderr, "snapshot-clients: bad --url\n");
        return 2;
    }
    bench.host = address;
    bench.port = port;
    bench.path = std::string("/") + path;
    bench.clients.resize(static_cast<size_t>(bench.opt.clients));

    lws_set_log_level(LLL_ERR, nullptr);
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    info.fd_limit_per_thread = static_cast<unsigned>(bench.opt.clients) + 256;
    bench.context = lws_create_context(&info);
    if (!bench.context) return 1;

    auto start = Clock::now();
    for (int i = 0; i < bench.opt.clients; ++i) {
        Client &c = bench.clients[static_cast<size_t>(i)];
        c.index = i;
        c.started = Clock::now();
        struct lws_client_connect_info ci;
        std::memset(&ci, 0, sizeof ci);
        ci.context = bench.context;
        ci.address = bench.host.c_str();
        ci.port = bench.port;
        ci.path = bench.path.c_str();
        ci.host = bench.host.c_str();
        ci.origin = bench.host.c_str();
        ci.protocol = bench.opt.msgpack ? "livesync.v1.msgpack" : "livesync.v1.json";
        ci.opaque_user_data = &c;
        ci.pwsi = &c.wsi;
        if (!lws_client_connect_via_info(&ci)) ++bench.errors;
    }
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(bench.opt.timeout_s));
    while (Clock::now() < deadline && bench.done < bench.opt.clients &&
           bench.done + bench.errors + bench.closed < bench.opt.clients)
        lws_service(bench.context, 0);

    long rows_min = -1, rows_max = 0;
    std::vector<double> client_s;
    Clock::time_point last = start;
    for (const Client &c : bench.clients) {
        if (!c.done) continue;
        rows_min = rows_min < 0 ? c.rows : std::min(rows_min, c.rows);
        rows_max = std::max(rows_max, c.rows);
        client_s.push_back(std::chrono::duration<double>(c.ended - c.started).count());
        last = std::max(last, c.ended);
    }
    std::sort(client_s.begin(), client_s.end());
    double p50 = client_s.empty() ? 0 : client_s[client_s.size() / 2];
    double max = client_s.empty() ? 0 : client_s.back();
    std::printf(
        "{\"clients\":%d,\"done\":%d,\"rows_min\":%ld,\"rows_max\":%ld,\"total_s\":%.4f,"
        "\"client_s\":{\"p50\":%.4f,\"max\":%.4f},\"bytes\":%llu,\"errors\":%d,\"generator_cpu_s\":%.2f}\n",
        bench.opt.clients, bench.done, rows_min, rows_max, std::chrono::duration<double>(last - start).count(), p50, max,
        bench.bytes, bench.errors, cpu_seconds());
    std::fflush(stdout);
    lws_context_destroy(bench.context);
    return bench.errors == 0 && bench.done == bench.opt.clients ? 0 : 1;
}
