// fanout-clients: the load generator of bench/fanout (never a test). Opens many
// livesync WebSocket sessions in one process on one libwebsockets context, each saying
// hello with one subscription (optionally resuming from --last-lsn), prints "ready" on
// stdout once every subscription is acknowledged (or caught up, when resuming), then
// counts delivered changes until every client has --expect of them (or --timeout), and
// prints one JSON line of results:
//   clients, changes (total delivered), first_s/last_s (delivery window, seconds since
//   ready), changes_per_s, latency_ms {p50,p99,p999,max,samples} (now - commit_time of
//   each changes frame, per client; same host clock as Postgres), errors, closed.
//
// usage: fanout-clients --url ws://127.0.0.1:8080/v1/sync --clients N --table public.t
//                       [--expect N] [--timeout S] [--last-lsn X/Y] [--connect-batch N]
//                       [--client-prefix P] [--msgpack] [--no-hello] [--protocol P|none]
//
// --no-hello (for nginx + Nchan, which speaks no livesync protocol): no hello is sent and
// a client counts as subscribed once its WebSocket is open. --protocol: the subprotocol
// offered (default livesync.v1.json, or .msgpack with --msgpack; none: no header).
//
// --raw: the same sessions, counts and results, without libwebsockets: one epoll loop,
// a minimal RFC 6455 client (fixed Sec-WebSocket-Key, the answer's accept value not
// checked, frames sent with a zero mask key, pings answered). Meant for throughput
// runs, where lws' per-byte receive path makes the client, not the server, the limit on
// this 2-core machine; what is counted per message is the same (on_message).
//
// --msgpack speaks livesync.v1.msgpack (the same counts, from msgpack frames). Also
// printed: done_after_commit_ms {min,p50,max}: per client, from the commit time of the
// frame that completed its --expect changes to the moment it arrived.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <msgpack.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Options {
    std::string url = "ws://127.0.0.1:8080/v1/sync";
    int clients = 1;
    std::string table = "public.bench";
    long expect = 0;  // changes per client; 0: run until --timeout
    double timeout_s = 60;
    std::string last_lsn;
    int connect_batch = 200;  // connections started per service round while others are pending
    std::string client_prefix = "bench-";  // client ids are <prefix><index>
    bool msgpack = false;
    bool no_hello = false;
    bool raw = false;
    std::string protocol;  // empty: the livesync one of the encoding; "none": not offered
};

struct Client {
    int index = 0;
    struct lws *wsi = nullptr;
    bool hello_sent = false;
    bool acked = false;
    bool counted_done = false;
    long changes = 0;
    std::string rx;
    double done_after_commit_ms = -1;
};

struct Bench {
    Options opt;
    std::vector<Client> clients;
    struct lws_context *context = nullptr;
    std::string host, path;
    int port = 0;
    int started = 0, connecting = 0, acked = 0, done = 0, errors = 0, closed = 0;
    bool ready = false;
    std::chrono::steady_clock::time_point ready_at, first_change, last_change;
    bool any_change = false;
    long total_changes = 0;
    long long payload_bytes = 0;  // message bytes received (--raw only)
    std::vector<float> latency_ms;  // bounded: kMaxSamples
};

constexpr size_t kMaxSamples = 20'000'000;
Bench bench;

double wall_now_s() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// "2026-11-25T08:43:28.123456Z" → unix seconds.
double parse_rfc3339(std::string_view t) {
    if (t.size() < 20) return 0;
    struct tm tm {};
    tm.tm_year = std::atoi(std::string(t.substr(0, 4)).c_str()) - 1900;
    tm.tm_mon = std::atoi(std::string(t.substr(5, 2)).c_str()) - 1;
    tm.tm_mday = std::atoi(std::string(t.substr(8, 2)).c_str());
    tm.tm_hour = std::atoi(std::string(t.substr(11, 2)).c_str());
    tm.tm_min = std::atoi(std::string(t.substr(14, 2)).c_str());
    tm.tm_sec = std::atoi(std::string(t.substr(17, 2)).c_str());
    double frac = 0;
    if (t.size() > 20 && t[19] == '.') {
        size_t end = t.find('Z', 20);
        std::string digits(t.substr(20, end - 20));
        frac = std::atof(("0." + digits).c_str());
    }
    return static_cast<double>(timegm(&tm)) + frac;
}

size_t count_of(std::string_view hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + needle.size())) ++n;
    return n;
}

void mark_ready_if_all() {
    if (!bench.ready && bench.acked == bench.opt.clients) {
        bench.ready = true;
        bench.ready_at = std::chrono::steady_clock::now();
        std::printf("ready\n");
        std::fflush(stdout);
    }
}

void on_changes(Client &c, long n, double commit_unix) {
    auto now = std::chrono::steady_clock::now();
    c.changes += n;
    bench.total_changes += n;
    if (!bench.any_change) bench.first_change = now, bench.any_change = true;
    bench.last_change = now;
    double now_unix = wall_now_s();
    if (commit_unix > 0 && bench.latency_ms.size() < kMaxSamples)
        bench.latency_ms.push_back(static_cast<float>((now_unix - commit_unix) * 1000.0));
    if (bench.opt.expect > 0 && c.changes >= bench.opt.expect && !c.counted_done) {
        c.counted_done = true;
        if (commit_unix > 0) c.done_after_commit_ms = (now_unix - commit_unix) * 1000.0;
        ++bench.done;
    }
}

void on_control(Client &c, std::string_view type, std::string_view m) {
    if (type == "subscribed") {
        if (bench.opt.last_lsn.empty() && !c.acked) {
            c.acked = true;
            ++bench.acked;
            mark_ready_if_all();
        }
    } else if (type == "caught_up" || type == "resync_required") {
        if (type == "resync_required") {
            std::fprintf(stderr, "fanout-clients: client %d: %.*s\n", c.index, static_cast<int>(m.size()), m.data());
            ++bench.errors;
        }
        if (!c.acked) {
            c.acked = true;
            ++bench.acked;
            mark_ready_if_all();
        }
    } else if (type == "error") {
        ++bench.errors;
        std::fprintf(stderr, "fanout-clients: client %d: %.*s\n", c.index, static_cast<int>(m.size()), m.data());
    }
}

void on_message(Client &c, std::string_view m) {
    if (m.rfind("{\"type\":\"changes\"", 0) == 0) {
        double commit = 0;
        size_t at = m.find("\"commit_time\":\"");
        if (at != std::string_view::npos) commit = parse_rfc3339(m.substr(at + 15, 32));
        on_changes(c, static_cast<long>(count_of(m, "{\"sub\":[")), commit);
        return;
    }
    size_t at = m.find("\"type\":\"");
    if (at == std::string_view::npos) return;
    size_t end = m.find('"', at + 8);
    on_control(c, m.substr(at + 8, end - at - 8), m);
}

// The same for a livesync.v1.msgpack frame: a map with "type", and for changes
// "commit_time" (msgpack timestamp, ext -1) and the "changes" array.
void on_message_msgpack(Client &c, std::string_view m) {
    msgpack_unpacked msg;
    msgpack_unpacked_init(&msg);
    size_t off = 0;
    if (msgpack_unpack_next(&msg, m.data(), m.size(), &off) == MSGPACK_UNPACK_SUCCESS &&
        msg.data.type == MSGPACK_OBJECT_MAP) {
        std::string_view type;
        long changes = -1;
        double commit = 0;
        const msgpack_object_map &map = msg.data.via.map;
        for (uint32_t i = 0; i < map.size; ++i) {
            const msgpack_object &k = map.ptr[i].key, &v = map.ptr[i].val;
            if (k.type != MSGPACK_OBJECT_STR) continue;
            std::string_view key(k.via.str.ptr, k.via.str.size);
            if (key == "type" && v.type == MSGPACK_OBJECT_STR) type = std::string_view(v.via.str.ptr, v.via.str.size);
            else if (key == "changes" && v.type == MSGPACK_OBJECT_ARRAY) changes = static_cast<long>(v.via.array.size);
            else if (key == "commit_time" && v.type == MSGPACK_OBJECT_EXT && v.via.ext.type == -1) {
                msgpack_timestamp ts;
                if (msgpack_object_to_timestamp(&v, &ts)) commit = static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
            }
        }
        if (type == "changes" && changes >= 0) on_changes(c, changes, commit);
        else if (!type.empty()) on_control(c, type, "(msgpack)");
    } else {
        ++bench.errors;
        std::fprintf(stderr, "fanout-clients: client %d: bad msgpack frame\n", c.index);
    }
    msgpack_unpacked_destroy(&msg);
}

void dispatch(Client &c, std::string_view m) {
    if (bench.opt.msgpack) on_message_msgpack(c, m);
    else on_message(c, m);
}

// The hello as msgpack: {"type":"hello","client_id":..,["last_lsn":..,]"subscriptions":[{"id":"s1","table":..}]}
std::string msgpack_hello(const std::string &client_id) {
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    auto str = [&](const std::string &s) {
        msgpack_pack_str(&pk, s.size());
        msgpack_pack_str_body(&pk, s.data(), s.size());
    };
    msgpack_pack_map(&pk, bench.opt.last_lsn.empty() ? 3 : 4);
    str("type");
    str("hello");
    str("client_id");
    str(client_id);
    if (!bench.opt.last_lsn.empty()) {
        str("last_lsn");
        str(bench.opt.last_lsn);
    }
    str("subscriptions");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 2);
    str("id");
    str("s1");
    str("table");
    str(bench.opt.table);
    std::string out(buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return out;
}

std::string hello_of(const Client &c) {
    std::string client_id = bench.opt.client_prefix + std::to_string(c.index);
    if (bench.opt.msgpack) return msgpack_hello(client_id);
    std::string hello = "{\"type\":\"hello\",\"client_id\":\"" + client_id + "\"";
    if (!bench.opt.last_lsn.empty()) hello += ",\"last_lsn\":\"" + bench.opt.last_lsn + "\"";
    hello += ",\"subscriptions\":[{\"id\":\"s1\",\"table\":\"" + bench.opt.table + "\"}]}";
    return hello;
}

int callback(struct lws *wsi, enum lws_callback_reasons reason, void *, void *in, size_t len) {
    auto *c = static_cast<Client *>(lws_get_opaque_user_data(wsi));
    switch (reason) {
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
            --bench.connecting;
            if (bench.opt.no_hello) {
                if (c && !c->acked) {
                    c->acked = true;
                    ++bench.acked;
                    mark_ready_if_all();
                }
                return 0;
            }
            lws_callback_on_writable(wsi);
            return 0;
        case LWS_CALLBACK_CLIENT_WRITEABLE: {
            if (!c || c->hello_sent) return 0;
            std::string hello = hello_of(*c);
            std::string buf(LWS_PRE, '\0');
            buf += hello;
            if (lws_write(wsi, reinterpret_cast<unsigned char *>(buf.data()) + LWS_PRE, hello.size(),
                          bench.opt.msgpack ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < static_cast<int>(hello.size()))
                return -1;
            c->hello_sent = true;
            return 0;
        }
        case LWS_CALLBACK_CLIENT_RECEIVE:
            if (!c) return 0;
            if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi)) {  // no copy
                dispatch(*c, std::string_view(static_cast<const char *>(in), len));
                return 0;
            }
            if (lws_is_first_fragment(wsi)) c->rx.clear();
            c->rx.append(static_cast<const char *>(in), len);
            if (lws_is_final_fragment(wsi)) dispatch(*c, c->rx);
            return 0;
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
            --bench.connecting;
            ++bench.errors;
            std::fprintf(stderr, "fanout-clients: connect %d failed: %s\n", c ? c->index : -1,
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

void connect_more() {
    while (bench.started < bench.opt.clients && bench.connecting < bench.opt.connect_batch) {
        Client &c = bench.clients[bench.started];
        c.index = bench.started++;
        struct lws_client_connect_info ci;
        std::memset(&ci, 0, sizeof ci);
        ci.context = bench.context;
        ci.address = bench.host.c_str();
        ci.port = bench.port;
        ci.path = bench.path.c_str();
        ci.host = bench.host.c_str();
        ci.origin = bench.host.c_str();
        ci.protocol = bench.opt.msgpack ? "livesync.v1.msgpack" : "livesync.v1.json";
        if (bench.opt.protocol == "none") ci.protocol = nullptr;
        else if (!bench.opt.protocol.empty()) ci.protocol = bench.opt.protocol.c_str();
        ci.opaque_user_data = &c;
        ci.pwsi = &c.wsi;
        ++bench.connecting;
        if (!lws_client_connect_via_info(&ci)) {
            --bench.connecting;
            ++bench.errors;
        }
    }
}

// ---- --raw: the same clients on one epoll loop, without lws ----

struct RawConn {
    int fd = -1;
    enum class State { Connecting, Handshake, Open, Closed } state = State::Connecting;
    std::string rx;   // bytes read, not yet parsed
    std::string msg;  // a fragmented message being reassembled
};

std::vector<RawConn> raw_conns;
int raw_epfd = -1;
sockaddr_in raw_addr{};

void ack(Client &c) {
    if (c.acked) return;
    c.acked = true;
    ++bench.acked;
    mark_ready_if_all();
}

// One client frame: FIN, opcode, masked with the key 0 (the payload unchanged).
std::string raw_frame(int opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    size_t n = payload.size();
    if (n < 126) {
        f.push_back(static_cast<char>(0x80 | n));
    } else if (n < 65536) {
        f.push_back(static_cast<char>(0x80 | 126));
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(static_cast<char>(0x80 | 127));
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
    }
    f.append(4, '\0');
    f.append(payload);
    return f;
}

// Small writes only (the upgrade request, the hello, pongs): a socket's buffer takes
// them whole; a short write is an error here.
bool raw_send(RawConn &rc, const std::string &bytes) {
    return ::send(rc.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

void raw_close(Client &c, RawConn &rc, bool error) {
    if (rc.state == RawConn::State::Closed) return;
    if (rc.state == RawConn::State::Connecting || rc.state == RawConn::State::Handshake) --bench.connecting;
    rc.state = RawConn::State::Closed;
    epoll_ctl(raw_epfd, EPOLL_CTL_DEL, rc.fd, nullptr);
    close(rc.fd);
    if (error) ++bench.errors;
    else ++bench.closed;
    (void)c;
}

void raw_connect_more() {
    while (bench.started < bench.opt.clients && bench.connecting < bench.opt.connect_batch) {
        size_t i = static_cast<size_t>(bench.started);
        Client &c = bench.clients[i];
        c.index = bench.started++;
        RawConn &rc = raw_conns[i];
        rc.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(rc.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ++bench.connecting;
        if (connect(rc.fd, reinterpret_cast<sockaddr *>(&raw_addr), sizeof raw_addr) != 0 && errno != EINPROGRESS) {
            std::fprintf(stderr, "fanout-clients: connect %d failed: %s\n", c.index, std::strerror(errno));
            raw_close(c, rc, true);
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(raw_epfd, EPOLL_CTL_ADD, rc.fd, &ev);
    }
}

// Parses every whole frame at the start of rc.rx; false when the connection closed.
bool raw_frames(Client &c, RawConn &rc) {
    size_t at = 0;
    const auto *b = reinterpret_cast<const unsigned char *>(rc.rx.data());
    while (rc.rx.size() - at >= 2) {
        int fin = b[at] & 0x80, opcode = b[at] & 0x0f;
        bool masked = b[at + 1] & 0x80;
        uint64_t len = b[at + 1] & 0x7f;
        size_t head = 2;
        if (len == 126) {
            if (rc.rx.size() - at < 4) break;
            len = (static_cast<uint64_t>(b[at + 2]) << 8) | b[at + 3];
            head = 4;
        } else if (len == 127) {
            if (rc.rx.size() - at < 10) break;
            len = 0;
            for (int k = 0; k < 8; ++k) len = (len << 8) | b[at + 2 + k];
            head = 10;
        }
        if (masked) {
            std::fprintf(stderr, "fanout-clients: client %d: masked server frame\n", c.index);
            raw_close(c, rc, true);
            return false;
        }
        if (rc.rx.size() - at - head < len) break;
        std::string_view payload(rc.rx.data() + at + head, static_cast<size_t>(len));
        at += head + static_cast<size_t>(len);
        if (opcode == 0x8) {
            raw_close(c, rc, false);
            return false;
        } else if (opcode == 0x9) {
            raw_send(rc, raw_frame(0xA, payload));
        } else if (opcode == 0x0 || opcode == 0x1 || opcode == 0x2) {
            bench.payload_bytes += static_cast<long long>(len);
            if (fin && opcode != 0x0 && rc.msg.empty()) {
                dispatch(c, payload);  // no copy
            } else {
                rc.msg.append(payload);
                if (fin) {
                    dispatch(c, rc.msg);
                    rc.msg.clear();
                }
            }
        }
    }
    rc.rx.erase(0, at);
    return true;
}

void raw_event(size_t i, uint32_t events) {
    Client &c = bench.clients[i];
    RawConn &rc = raw_conns[i];
    if (rc.state == RawConn::State::Closed) return;
    if (rc.state == RawConn::State::Connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(rc.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            std::fprintf(stderr, "fanout-clients: connect %d failed: %s\n", c.index, std::strerror(err));
            raw_close(c, rc, true);
            return;
        }
        std::string req = "GET " + bench.path + " HTTP/1.1\r\nHost: " + bench.host + ":" + std::to_string(bench.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                          "Origin: " + bench.host + "\r\n";
        std::string protocol = bench.opt.protocol.empty()
                                   ? (bench.opt.msgpack ? "livesync.v1.msgpack" : "livesync.v1.json")
                                   : bench.opt.protocol;
        if (protocol != "none") req += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
        req += "\r\n";
        if (!raw_send(rc, req)) {
            raw_close(c, rc, true);
            return;
        }
        rc.state = RawConn::State::Handshake;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(raw_epfd, EPOLL_CTL_MOD, rc.fd, &ev);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(rc.fd, buf, sizeof buf);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) {
            raw_close(c, rc, rc.state != RawConn::State::Open);
            return;
        }
        rc.rx.append(buf, static_cast<size_t>(r));
        if (rc.state == RawConn::State::Handshake) {
            size_t end = rc.rx.find("\r\n\r\n");
            if (end == std::string::npos) continue;
            if (rc.rx.compare(0, 12, "HTTP/1.1 101") != 0) {
                std::fprintf(stderr, "fanout-clients: client %d: upgrade refused: %.*s\n", c.index,
                             static_cast<int>(std::min<size_t>(end, 200)), rc.rx.data());
                raw_close(c, rc, true);
                return;
            }
            rc.rx.erase(0, end + 4);
            rc.state = RawConn::State::Open;
            --bench.connecting;
            if (bench.opt.no_hello) {
                ack(c);
            } else {
                std::string hello = hello_of(c);
                if (!raw_send(rc, raw_frame(bench.opt.msgpack ? 0x2 : 0x1, hello))) {
                    raw_close(c, rc, true);
                    return;
                }
                c.hello_sent = true;
            }
        }
        if (!raw_frames(c, rc)) return;
    }
}

bool run_raw() {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(bench.host.c_str(), nullptr, &hints, &res) != 0 || !res) {
        std::fprintf(stderr, "fanout-clients: cannot resolve %s\n", bench.host.c_str());
        return false;
    }
    raw_addr = *reinterpret_cast<sockaddr_in *>(res->ai_addr);
    raw_addr.sin_port = htons(static_cast<uint16_t>(bench.port));
    freeaddrinfo(res);
    raw_conns.resize(bench.clients.size());
    raw_epfd = epoll_create1(EPOLL_CLOEXEC);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                           std::chrono::duration<double>(bench.opt.timeout_s));
    std::vector<epoll_event> events(1024);
    while (std::chrono::steady_clock::now() < deadline) {
        raw_connect_more();
        int n = epoll_wait(raw_epfd, events.data(), static_cast<int>(events.size()), 50);
        for (int k = 0; k < n; ++k) raw_event(static_cast<size_t>(events[k].data.u64), events[k].events);
        if (bench.opt.expect > 0 && bench.done == bench.opt.clients && bench.acked == bench.opt.clients) break;
        if (bench.closed > 0 && bench.closed + bench.errors >= bench.opt.clients) break;
    }
    for (size_t i = 0; i < raw_conns.size(); ++i)
        if (raw_conns[i].fd >= 0 && raw_conns[i].state != RawConn::State::Closed) close(raw_conns[i].fd);
    return true;
}

bool parse(int argc, char **argv, Options &o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
        const char *v = nullptr;
        if (a == "--url" && (v = next())) o.url = v;
        else if (a == "--clients" && (v = next())) o.clients = std::atoi(v);
        else if (a == "--table" && (v = next())) o.table = v;
        else if (a == "--expect" && (v = next())) o.expect = std::atol(v);
        else if (a == "--timeout" && (v = next())) o.timeout_s = std::atof(v);
        else if (a == "--last-lsn" && (v = next())) o.last_lsn = v;
        else if (a == "--connect-batch" && (v = next())) o.connect_batch = std::atoi(v);
        else if (a == "--client-prefix" && (v = next())) o.client_prefix = v;
        else if (a == "--msgpack") o.msgpack = true;
        else if (a == "--no-hello") o.no_hello = true;
        else if (a == "--raw") o.raw = true;
        else if (a == "--protocol" && (v = next())) o.protocol = v;
        else return false;
    }
    return o.clients > 0 && o.connect_batch > 0;
}

double cpu_seconds() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<float> &v, double p) {
    if (v.empty()) return 0;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
}

int report();

}  // namespace

int main(int argc, char **argv) {
    if (!parse(argc, argv, bench.opt)) {
        std::fprintf(stderr,
                     "usage: fanout-clients --url URL --clients N --table T [--expect N] [--timeout S] "
                     "[--last-lsn X/Y] [--connect-batch N] [--client-prefix P] [--msgpack] [--no-hello] "
                     "[--protocol P|none] [--raw]\n");
        return 2;
    }
    // One fd per client, plus slack; lws sizes its tables from this limit.
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(bench.opt.clients) + 1024);
    setrlimit(RLIMIT_NOFILE, &rl);

    std::string url = bench.opt.url;
    const char *proto = nullptr, *address = nullptr, *path = nullptr;
    int port = 0;
    if (lws_parse_uri(url.data(), &proto, &address, &port, &path)) {
        std::fprintf(stderr, "fanout-clients: bad --url\n");
        return 2;
    }
    bench.host = address;
    bench.port = port;
    bench.path = std::string("/") + path;
    bench.clients.resize(static_cast<size_t>(bench.opt.clients));

    if (bench.opt.raw) {
        if (!run_raw()) return 1;
        return report();
    }

    lws_set_log_level(LLL_ERR, nullptr);
    struct lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    info.fd_limit_per_thread = static_cast<unsigned>(bench.opt.clients) + 256;
    bench.context = lws_create_context(&info);
    if (!bench.context) return 1;

    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(bench.opt.timeout_s));
    while (std::chrono::steady_clock::now() < deadline) {
        connect_more();
        lws_service(bench.context, 0);
        // Resuming clients also wait for caught_up, which follows their last replayed change.
        if (bench.opt.expect > 0 && bench.done == bench.opt.clients && bench.acked == bench.opt.clients) break;
        if (bench.closed > 0 && bench.closed + bench.errors >= bench.opt.clients) break;
    }
    int rc = report();
    lws_context_destroy(bench.context);
    return rc;
}

namespace {

// Prints the JSON line of results; the exit code.
int report() {
    double first = 0, last = 0, rate = 0, first_unix = 0, last_unix = 0;
    if (bench.any_change) {
        auto to_unix = [&](std::chrono::steady_clock::time_point t) {
            return wall_now_s() - std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
        };
        first_unix = to_unix(bench.first_change);
        last_unix = to_unix(bench.last_change);
        first = std::chrono::duration<double>(bench.first_change - bench.ready_at).count();
        last = std::chrono::duration<double>(bench.last_change - bench.ready_at).count();
        double window = std::chrono::duration<double>(bench.last_change - bench.first_change).count();
        rate = window > 0 ? static_cast<double>(bench.total_changes) / window : 0;
    }
    std::vector<float> done_ms;
    for (const Client &c : bench.clients)
        if (c.done_after_commit_ms >= 0) done_ms.push_back(static_cast<float>(c.done_after_commit_ms));
    double done_min = done_ms.empty() ? 0 : *std::min_element(done_ms.begin(), done_ms.end());
    double done_max = done_ms.empty() ? 0 : *std::max_element(done_ms.begin(), done_ms.end());
    double done_p50 = percentile(done_ms, 0.50);
    size_t samples = bench.latency_ms.size();
    double p50 = percentile(bench.latency_ms, 0.50), p99 = percentile(bench.latency_ms, 0.99),
           p999 = percentile(bench.latency_ms, 0.999);
    double max = samples ? *std::max_element(bench.latency_ms.begin(), bench.latency_ms.end()) : 0;
    std::printf(
        "{\"clients\":%d,\"acked\":%d,\"done\":%d,\"changes\":%ld,\"first_s\":%.6f,\"last_s\":%.6f,"
        "\"first_unix\":%.6f,\"last_unix\":%.6f,\"changes_per_s\":%.0f,\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,\"samples\":%zu},"
        "\"done_after_commit_ms\":{\"min\":%.1f,\"p50\":%.1f,\"max\":%.1f},"
        "\"errors\":%d,\"closed\":%d,\"generator_cpu_s\":%.2f,\"payload_bytes\":%lld}\n",
        bench.opt.clients, bench.acked, bench.done, bench.total_changes, first, last, first_unix, last_unix, rate, p50, p99, p999, max, samples,
        done_min, done_p50, done_max, bench.errors, bench.closed, cpu_seconds(), bench.payload_bytes);
    std::fflush(stdout);
    return bench.errors == 0 && (bench.opt.expect == 0 || bench.done == bench.opt.clients) ? 0 : 1;
}

}  // namespace
