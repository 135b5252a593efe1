// snapshot-clients: the load client of bench/snapshot (never a test). Opens N livesync
// WebSocket sessions at once in one process (one thread, epoll), each saying hello with
// one subscription to --table with "snapshot": true, counts the rows of its
// snapshot_rows messages as they stream in (never decoding or copying a row) and stops at
// its snapshot_end. Prints one JSON line:
//   clients, done (got snapshot_end), rows_min / rows_max (per client), total_s (first
//   connect to last snapshot_end), client_s {p50,max} (each client's connect to its
//   snapshot_end), bytes (total received), errors, generator_cpu_s.
//
// usage: snapshot-clients --url ws://127.0.0.1:8080/v1/sync --clients N --table items
//                         [--row-key id] [--timeout S] [--msgpack] [--record FILE]
//
// --record FILE: writes the bytes the first client received after its handshake, up to
// its snapshot_end (WebSocket frames as the server sent them), for bare-broadcaster
// --replay: the floor of sending the same bytes to N sockets.
//
// JSON rows are counted as the occurrences of {"<row-key>": (the rows' first column);
// msgpack rows from the message's "rows" array header.
//
// A bare RFC 6455 client on sockets rather than libwebsockets (as bench/fanout's client
// is): the libwebsockets client parses received frames a byte at a time, and measured at
// about 110 MB/s per core it was what the 100-client run timed (100 x 7.4 MB), not
// livesyncd. Here a message's payload is skipped or scanned with memchr-based search in
// the 1 MiB buffer it was read into.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;
    std::string path = "/v1/sync";
    int clients = 1;
    std::string table = "items";
    std::string row_key = "id";
    double timeout_s = 600;
    bool msgpack = false;
    std::string record;  // --record FILE
};

// What the message being received is, once its first bytes are in.
enum class Kind { Unknown, Rows, Other };

struct Client {
    int index = 0;
    int fd = -1;
    bool open = false;      // handshake done
    bool done = false;      // got snapshot_end
    bool failed = false;
    std::string handshake;  // the HTTP answer, until its blank line
    std::string header;     // bytes of the frame header being read
    uint64_t remaining = 0; // payload bytes of the current frame still to come
    bool fin = false;       // the current frame ends its message
    bool control = false;   // the current frame is a ping or pong
    Kind kind = Kind::Unknown;
    std::string head;       // the message's first bytes, until its kind is known
    std::string other;      // a whole message other than snapshot_rows
    std::string tail;       // JSON rows: the last bytes of the previous chunk
    long rows = 0;
    Clock::time_point started, ended;
};

Options opt;
std::string row_needle;
std::vector<Client> clients;
std::string recording;  // --record: client 0's bytes after its handshake
int done_count = 0, errors = 0;
unsigned long long bytes_in = 0;

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
    p += n;
    return static_cast<long>(n);
}

// {"type":"snapshot_rows","id":..,"rows":[...]} as msgpack: the rows array's count; -1
// for any other message (or too few bytes to tell).
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

void fail(Client &c, const std::string &why) {
    if (c.failed || c.done) return;
    c.failed = true;
    ++errors;
    std::fprintf(stderr, "snapshot-clients: client %d: %s\n", c.index, why.c_str());
}

void finish(Client &c) {
    if (c.done) return;
    c.done = true;
    c.ended = Clock::now();
    ++done_count;
}

// A whole message other than snapshot_rows (small): snapshot_end, error, or anything else.
void on_other(Client &c, std::string_view m) {
    if (opt.msgpack) {
        if (m.find("\xacsnapshot_end") != std::string_view::npos) finish(c);
        else if (m.find("\xa5" "error") != std::string_view::npos) fail(c, "error message");
        return;
    }
    if (m.rfind("{\"type\":\"snapshot_end\"", 0) == 0) finish(c);
    else if (m.rfind("{\"type\":\"error\"", 0) == 0) fail(c, std::string(m.substr(0, 300)));
}

// Payload bytes of the current message, in order.
void on_payload(Client &c, std::string_view part) {
    if (c.kind == Kind::Unknown) {
        // Enough bytes to tell a snapshot_rows message from the others.
        constexpr size_t kEnough = 64;
        bool last = c.fin && c.remaining == part.size();  // the message's last bytes
        size_t take = std::min(part.size(), kEnough - std::min(kEnough, c.head.size()));
        c.head.append(part.substr(0, take));
        part.remove_prefix(take);
        if (c.head.size() < kEnough && !last) return;
        if (opt.msgpack) {
            long n = msgpack_snapshot_rows(c.head);
            if (n >= 0) {
                c.rows += n;
                c.kind = Kind::Rows;
            }
        } else if (c.head.rfind("{\"type\":\"snapshot_rows\"", 0) == 0) {
            c.kind = Kind::Rows;
            c.tail.clear();
            c.rows += static_cast<long>(count_of(c.head, row_needle));
            size_t keep = std::min(c.head.size(), row_needle.size() - 1);
            c.tail.assign(c.head, c.head.size() - keep, keep);
        }
        if (c.kind != Kind::Rows) {
            c.kind = Kind::Other;
            c.other = c.head;
        }
    }
    if (part.empty()) return;
    if (c.kind == Kind::Other) {
        c.other.append(part);
    } else if (!opt.msgpack) {
        // tail + the chunk's first bytes hold exactly the needles that span the boundary
        // (neither side alone is long enough for one).
        c.tail.append(part.substr(0, row_needle.size() - 1));
        c.rows += static_cast<long>(count_of(c.tail, row_needle) + count_of(part, row_needle));
        size_t keep = std::min(part.size(), row_needle.size() - 1);
        c.tail.assign(part.substr(part.size() - keep));
    }
}

void end_message(Client &c) {
    if (c.kind == Kind::Other) on_other(c, c.other);
    c.kind = Kind::Unknown;
    c.head.clear();
    c.other.clear();
}

// Received bytes of an open session: frames, headers split anywhere.
void on_frames(Client &c, std::string_view data) {
    if (!opt.record.empty() && c.index == 0 && !c.done) recording.append(data);
    while (!data.empty() && !c.failed) {
        if (c.remaining == 0 && c.header.size() < 2) {
            size_t take = std::min(data.size(), 2 - c.header.size());
            c.header.append(data.substr(0, take));
            data.remove_prefix(take);
            continue;
        }
        if (c.remaining == 0 && !c.header.empty()) {
            size_t need = 2;
            uint8_t len7 = static_cast<uint8_t>(c.header[1]) & 0x7f;
            if (c.header[1] & 0x80) return fail(c, "masked frame from the server");
            need += len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
            if (c.header.size() < need) {
                size_t take = std::min(data.size(), need - c.header.size());
                c.header.append(data.substr(0, take));
                data.remove_prefix(take);
                if (c.header.size() < need) return;
            }
            uint64_t len = len7 >= 126 ? 0 : len7;
            if (len7 >= 126)
                for (size_t i = 2; i < need; ++i) len = (len << 8) | static_cast<uint8_t>(c.header[i]);
            uint8_t opcode = static_cast<uint8_t>(c.header[0]) & 0x0f;
            c.fin = (static_cast<uint8_t>(c.header[0]) & 0x80) != 0;
            c.header.clear();
            if (opcode == 8) return fail(c, "closed by the server");
            c.remaining = len;
            // ping / pong (which may come between the frames of a message): skipped, a
            // ping needs no pong within a benchmark run.
            c.control = opcode >= 8;
            if (c.control) continue;
            if (len == 0) {
                on_payload(c, std::string_view());
                if (c.fin) end_message(c);
                continue;
            }
        }
        size_t take = static_cast<size_t>(std::min<uint64_t>(c.remaining, data.size()));
        if (c.control) {
            c.remaining -= take;
            data.remove_prefix(take);
            continue;
        }
        bool ends_frame = take == c.remaining;
        on_payload(c, data.substr(0, take));
        c.remaining -= take;
        data.remove_prefix(take);
        bytes_in += take;
        if (ends_frame && c.fin) end_message(c);
    }
}

// A client frame: FIN, opcode, masked (zero mask: the payload is sent as is).
std::string client_frame(const std::string &payload, bool binary) {
    std::string f;
    f += static_cast<char>(0x80 | (binary ? 2 : 1));
    if (payload.size() < 126) {
        f += static_cast<char>(0x80 | payload.size());
    } else {
        f += static_cast<char>(0x80 | 126);
        f += static_cast<char>(payload.size() >> 8);
        f += static_cast<char>(payload.size() & 0xff);
    }
    f.append(4, '\0');
    return f + payload;
}

// {"type":"hello","client_id":..,"subscriptions":[{"id":"s1","table":..,"snapshot":true}]}
std::string hello(const std::string &client_id) {
    if (!opt.msgpack)
        return "{\"type\":\"hello\",\"client_id\":\"" + client_id + "\",\"subscriptions\":[{\"id\":\"s1\",\"table\":\"" +
               opt.table + "\",\"snapshot\":true}]}";
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
    str(out, opt.table);
    str(out, "snapshot");
    out += static_cast<char>(0xc3);
    return out;
}

bool send_all(int fd, const std::string &bytes) {
    size_t at = 0;
    while (at < bytes.size()) {
        ssize_t n = send(fd, bytes.data() + at, bytes.size() - at, MSG_NOSIGNAL);
        if (n > 0) at += static_cast<size_t>(n);
        else if (n < 0 && errno == EAGAIN) usleep(100);  // a few hundred bytes: never for long
        else return false;
    }
    return true;
}

void on_handshake(Client &c, std::string_view data) {
    c.handshake.append(data);
    size_t end = c.handshake.find("\r\n\r\n");
    if (end == std::string::npos) {
        if (c.handshake.size() > 16384) fail(c, "no handshake answer");
        return;
    }
    if (c.handshake.rfind("HTTP/1.1 101", 0) != 0) return fail(c, "handshake refused: " + c.handshake.substr(0, 80));
    std::string rest = c.handshake.substr(end + 4);
    c.handshake.clear();
    c.open = true;
    if (!send_all(c.fd, client_frame(hello("snap-" + std::to_string(c.index)), opt.msgpack)))
        return fail(c, "cannot send the hello");
    if (!rest.empty()) on_frames(c, rest);
}

bool parse(int argc, char **argv) {
    std::string url;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char * { return i + 1 < argc ? argv[++i] : nullptr; };
        const char *v = nullptr;
        if (a == "--url" && (v = next())) url = v;
        else if (a == "--clients" && (v = next())) opt.clients = std::atoi(v);
        else if (a == "--table" && (v = next())) opt.table = v;
        else if (a == "--row-key" && (v = next())) opt.row_key = v;
        else if (a == "--timeout" && (v = next())) opt.timeout_s = std::atof(v);
        else if (a == "--msgpack") opt.msgpack = true;
        else if (a == "--record" && (v = next())) opt.record = v;
        else return false;
    }
    if (!url.empty()) {
        // ws://host:port/path
        if (url.rfind("ws://", 0) != 0) return false;
        std::string rest = url.substr(5);
        size_t slash = rest.find('/');
        std::string hostport = rest.substr(0, slash);
        opt.path = slash == std::string::npos ? "/" : rest.substr(slash);
        size_t colon = hostport.rfind(':');
        if (colon == std::string::npos) return false;
        opt.host = hostport.substr(0, colon);
        opt.port = std::atoi(hostport.c_str() + colon + 1);
    }
    // Names go into the hello unescaped and as str8: keep them plain.
    for (const std::string *s : {&opt.table, &opt.row_key})
        if (s->empty() || s->size() > 200 || s->find_first_of("\"\\") != std::string::npos) return false;
    return opt.clients > 0 && opt.port > 0;
}

double cpu_seconds() {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char **argv) {
    if (!parse(argc, argv)) {
        std::fprintf(stderr,
                     "usage: snapshot-clients --url ws://HOST:PORT/PATH --clients N --table T [--row-key id] "
                     "[--timeout S] [--msgpack] [--record FILE]\n");
        return 2;
    }
    row_needle = "{\"" + opt.row_key + "\":";
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(opt.clients) + 64);
    setrlimit(RLIMIT_NOFILE, &rl);

    struct addrinfo hints {}, *addr = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(opt.host.c_str(), std::to_string(opt.port).c_str(), &hints, &addr) != 0 || !addr) {
        std::fprintf(stderr, "snapshot-clients: cannot resolve %s\n", opt.host.c_str());
        return 2;
    }
    int ep = epoll_create1(0);
    clients.resize(static_cast<size_t>(opt.clients));
    std::string request = "GET " + opt.path + " HTTP/1.1\r\nHost: " + opt.host + ":" + std::to_string(opt.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " +
                          std::string(opt.msgpack ? "livesync.v1.msgpack" : "livesync.v1.json") + "\r\n\r\n";
    auto start = Clock::now();
    for (int i = 0; i < opt.clients; ++i) {
        Client &c = clients[static_cast<size_t>(i)];
        c.index = i;
        c.started = Clock::now();
        c.fd = socket(addr->ai_family, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (c.fd < 0 || connect(c.fd, addr->ai_addr, addr->ai_addrlen) != 0 || !send_all(c.fd, request)) {
            fail(c, std::string("connect: ") + std::strerror(errno));
            continue;
        }
        fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev {};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    }
    freeaddrinfo(addr);

    std::vector<char> buf(1 << 20);
    std::vector<struct epoll_event> events(256);
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.timeout_s));
    while (done_count + errors < opt.clients && Clock::now() < deadline) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        for (int e = 0; e < n; ++e) {
            Client &c = clients[events[static_cast<size_t>(e)].data.u32];
            for (;;) {
                ssize_t got = recv(c.fd, buf.data(), buf.size(), 0);
                if (got > 0) {
                    std::string_view data(buf.data(), static_cast<size_t>(got));
                    if (c.open) on_frames(c, data);
                    else on_handshake(c, data);
                    if (c.done || c.failed) break;
                    if (static_cast<size_t>(got) < buf.size()) break;
                    continue;
                }
                if (got == 0) fail(c, "connection closed");
                else if (errno != EAGAIN && errno != EINTR) fail(c, std::string("recv: ") + std::strerror(errno));
                break;
            }
            if (c.done || c.failed) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
                close(c.fd);
                c.fd = -1;
            }
        }
    }

    long rows_min = -1, rows_max = 0;
    std::vector<double> client_s;
    Clock::time_point last = start;
    for (const Client &c : clients) {
        if (c.fd >= 0) close(c.fd);
        if (!c.done) continue;
        rows_min = rows_min < 0 ? c.rows : std::min(rows_min, c.rows);
        rows_max = std::max(rows_max, c.rows);
        client_s.push_back(std::chrono::duration<double>(c.ended - c.started).count());
        last = std::max(last, c.ended);
    }
    if (!opt.record.empty() && clients[0].done) {
        // Every read up to the one that held snapshot_end (bytes after it in that read
        // would be recorded too; a snapshot run has none: nothing else is subscribed).
        FILE *f = std::fopen(opt.record.c_str(), "wb");
        if (f == nullptr || std::fwrite(recording.data(), 1, recording.size(), f) != recording.size()) {
            std::fprintf(stderr, "snapshot-clients: cannot write %s\n", opt.record.c_str());
            ++errors;
        }
        if (f) std::fclose(f);
    }
    std::sort(client_s.begin(), client_s.end());
    double p50 = client_s.empty() ? 0 : client_s[client_s.size() / 2];
    double max = client_s.empty() ? 0 : client_s.back();
    std::printf(
        "{\"clients\":%d,\"done\":%d,\"rows_min\":%ld,\"rows_max\":%ld,\"total_s\":%.4f,"
        "\"client_s\":{\"p50\":%.4f,\"max\":%.4f},\"bytes\":%llu,\"errors\":%d,\"generator_cpu_s\":%.2f}\n",
        opt.clients, done_count, rows_min, rows_max, std::chrono::duration<double>(last - start).count(), p50, max,
        bytes_in, errors, cpu_seconds());
    std::fflush(stdout);
    close(ep);
    return errors == 0 && done_count == opt.clients ? 0 : 1;
}
