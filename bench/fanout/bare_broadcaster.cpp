// bare-broadcaster: the "upper bound" of bench/fanout (never a test, never a server to
// deploy). One epoll thread holds every WebSocket connection; one thread reads the same
// Redis stream livesyncd reads (stream_frames.hpp) and hands each transaction's JSON
// `changes` frame, WebSocket-framed ONCE, to the epoll thread, which writes that same
// buffer to every socket. No per-session logic: no hello parsing, no subscriptions, no
// rules, no resume; a session's hello (any bytes it sends first) is answered with
// {"type":"subscribed","id":"s1"} so fanout-clients counts it ready. A socket that
// cannot take a whole frame keeps the rest (a reference to the shared buffer and an
// offset) and waits for EPOLLOUT.
//
// The WebSocket upgrade is the minimum of RFC 6455 (Sec-WebSocket-Accept with OpenSSL's
// SHA-1 and base64, the first offered subprotocol echoed); client frames are read and
// dropped unparsed; a read of 0 or an error closes the socket.
//
// usage: bare-broadcaster --listen PORT --redis-port PORT [--redis-host H]
//                         [--key {livesync}:changes] [--table public.bench]
//        bare-broadcaster --listen PORT --replay FILE
// prints "listening" on stdout when it accepts connections and the stream is open.
//
// --replay FILE (no Redis): answers each session's hello with FILE's bytes instead, one
// shared buffer written to every socket as fast as it takes them. FILE is what one client
// received from livesyncd (snapshot-clients --record: welcome, subscribed, snapshot_rows...,
// snapshot_end, as WebSocket frames), so snapshot-clients against it measures the floor
// of sending the same snapshot bytes to N sockets on this machine (bench/snapshot).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/fanout/stream_frames.hpp"
#include "common/redis_keys.hpp"

namespace {

using Buffer = std::shared_ptr<const std::string>;

struct Pending {
    Buffer buf;
    size_t off;
};

struct Conn {
    int fd = -1;
    bool open = false;  // upgraded
    bool acked = false;
    std::string request;  // the HTTP upgrade request, until its blank line
    std::deque<Pending> out;
};

// A complete unmasked text frame (FIN, opcode 1) around payload.
std::string ws_frame(const std::string &payload) {
    std::string f;
    size_t n = payload.size();
    f.reserve(n + 10);
    f.push_back(static_cast<char>(0x81));
    if (n < 126) {
        f.push_back(static_cast<char>(n));
    } else if (n < 65536) {
        f.push_back(126);
        f.push_back(static_cast<char>(n >> 8));
        f.push_back(static_cast<char>(n & 0xff));
    } else {
        f.push_back(127);
        for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
    }
    f += payload;
    return f;
}

std::string header_value(const std::string &req, const char *name) {
    // Case-insensitive "\r\nName:" search.
    std::string lower(req.size(), '\0');
    for (size_t i = 0; i < req.size(); ++i) lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(req[i])));
    std::string needle = std::string("\r\n") + name + ":";
    for (char &ch : needle) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    size_t at = lower.find(needle);
    if (at == std::string::npos) return {};
    size_t start = at + needle.size(), end = req.find("\r\n", start);
    std::string v = req.substr(start, end - start);
    size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
    return b == std::string::npos ? std::string() : v.substr(b, e - b + 1);
}

std::string accept_key(const std::string &key) {
    std::string in = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char *>(in.data()), in.size(), digest);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char *>(b64), static_cast<size_t>(n));
}

class Broadcaster {
public:
    Broadcaster(int listen_fd, int epfd, int wake_fd, Buffer replay)
        : listen_fd_(listen_fd), epfd_(epfd), wake_fd_(wake_fd), replay_(std::move(replay)) {}

    void push(std::string &&frame) {
        auto buf = std::make_shared<const std::string>(ws_frame(frame));
        {
            std::lock_guard<std::mutex> lock(mu_);
            inbox_.push_back(std::move(buf));
        }
        uint64_t one = 1;
        (void)!write(wake_fd_, &one, sizeof one);
    }

    void run(const std::atomic<bool> &stop) {
        std::vector<epoll_event> events(1024);
        while (!stop.load()) {
            int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 200);
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == listen_fd_) accept_all();
                else if (fd == wake_fd_) broadcast();
                else on_socket(fd, events[i].events);
            }
        }
    }

private:
    void accept_all() {
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
            Conn c;
            c.fd = fd;
            conns_.emplace(fd, std::move(c));
        }
    }

    void close_conn(int fd) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        close(fd);
        conns_.erase(fd);
    }

    // Queues a buffer (or its rest) and writes what the socket takes now.
    void send(Conn &c, Buffer buf) {
        bool was_empty = c.out.empty();
        c.out.push_back(Pending{std::move(buf), 0});
        if (was_empty) flush(c);
    }

    void flush(Conn &c) {
        while (!c.out.empty()) {
            Pending &p = c.out.front();
            ssize_t w = ::send(c.fd, p.buf->data() + p.off, p.buf->size() - p.off, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                close_conn(c.fd);
                return;
            }
            p.off += static_cast<size_t>(w);
            if (p.off < p.buf->size()) break;
            c.out.pop_front();
        }
        epoll_event ev{};
        ev.events = EPOLLIN | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
        ev.data.fd = c.fd;
        epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
    }

    void broadcast() {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof count);
        std::deque<Buffer> batch;
        {
            std::lock_guard<std::mutex> lock(mu_);
            batch.swap(inbox_);
        }
        for (const Buffer &buf : batch) {
            // close_conn erases from conns_: collect first.
            fds_.clear();
            for (auto &kv : conns_)
                if (kv.second.open) fds_.push_back(kv.first);
            for (int fd : fds_) {
                auto it = conns_.find(fd);
                if (it == conns_.end()) continue;
                Conn &c = it->second;
                if (c.out.empty()) {
                    // The common case: the whole frame goes now, nothing is queued.
                    ssize_t w = ::send(fd, buf->data(), buf->size(), MSG_NOSIGNAL);
                    if (w == static_cast<ssize_t>(buf->size())) continue;
                    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                        close_conn(fd);
                        continue;
                    }
                    c.out.push_back(Pending{buf, w > 0 ? static_cast<size_t>(w) : 0});
                    flush(c);
                } else {
                    c.out.push_back(Pending{buf, 0});
                }
            }
        }
    }

    void on_socket(int fd, uint32_t events) {
        auto it = conns_.find(fd);
        if (it == conns_.end()) return;
        Conn &c = it->second;
        if (events & (EPOLLERR | EPOLLHUP)) {
            close_conn(fd);
            return;
        }
        if (events & EPOLLOUT) {
            flush(c);
            if (conns_.find(fd) == conns_.end()) return;
        }
        if (!(events & EPOLLIN)) return;
        char buf[16384];
        for (;;) {
            ssize_t r = read(fd, buf, sizeof buf);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close_conn(fd);
                return;
            }
            if (r < 0) return;
            if (!c.open) {
                c.request.append(buf, static_cast<size_t>(r));
                if (c.request.find("\r\n\r\n") == std::string::npos) {
                    if (c.request.size() > 16384) {
                        close_conn(fd);
                        return;
                    }
                    continue;
                }
                std::string key = header_value(c.request, "Sec-WebSocket-Key");
                if (key.empty()) {
                    close_conn(fd);
                    return;
                }
                std::string protocol = header_value(c.request, "Sec-WebSocket-Protocol");
                if (size_t comma = protocol.find(','); comma != std::string::npos) protocol.resize(comma);
                std::string resp =
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: " + accept_key(key) + "\r\n";
                if (!protocol.empty()) resp += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
                resp += "\r\n";
                c.request.clear();
                c.request.shrink_to_fit();
                c.open = true;
                send(c, std::make_shared<const std::string>(std::move(resp)));
                if (conns_.find(fd) == conns_.end()) return;
            } else if (!c.acked) {
                // The hello (whatever it says): one ack, so the client counts itself ready;
                // or, replaying, the recorded frames.
                c.acked = true;
                send(c, replay_ ? replay_
                                : std::make_shared<const std::string>(ws_frame("{\"type\":\"subscribed\",\"id\":\"s1\"}")));
                if (conns_.find(fd) == conns_.end()) return;
            }
        }
    }

    int listen_fd_, epfd_, wake_fd_;
    std::unordered_map<int, Conn> conns_;
    std::vector<int> fds_;
    std::mutex mu_;
    std::deque<Buffer> inbox_;
    Buffer replay_;  // --replay: every session's answer to its hello
};

std::atomic<bool> g_stop{false};

}  // namespace

int main(int argc, char **argv) {
    int port = 0, redis_port = 6379;
    std::string redis_host = "127.0.0.1", key = livesync::common::RedisKeys().changes(), table = "public.bench";
    std::string replay_path;
    for (int i = 1; i < argc; i += 2) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "bare-broadcaster: %s needs a value\n", a.c_str());
            return 2;
        }
        const char *v = argv[i + 1];
        if (a == "--listen") port = std::atoi(v);
        else if (a == "--redis-port") redis_port = std::atoi(v);
        else if (a == "--redis-host") redis_host = v;
        else if (a == "--key") key = v;
        else if (a == "--table") table = v;
        else if (a == "--replay") replay_path = v;
        else {
            std::fprintf(stderr, "bare-broadcaster: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (port <= 0) {
        std::fprintf(stderr,
                     "usage: bare-broadcaster --listen PORT --redis-port PORT [--redis-host H] [--key K] [--table T]\n"
                     "       bare-broadcaster --listen PORT --replay FILE\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, [](int) { g_stop.store(true); });
    signal(SIGINT, [](int) { g_stop.store(true); });

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 || listen(lfd, 4096) != 0) {
        std::perror("bare-broadcaster: listen");
        return 1;
    }
    Buffer replay;
    if (!replay_path.empty()) {
        std::ifstream in(replay_path, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "bare-broadcaster: cannot read %s\n", replay_path.c_str());
            return 1;
        }
        if (bytes.empty()) {
            std::fprintf(stderr, "bare-broadcaster: %s is empty\n", replay_path.c_str());
            return 1;
        }
        replay = std::make_shared<const std::string>(std::move(bytes));
    }
    livesync::bench::StreamFrames source(redis_host, redis_port, key, table);
    std::string error;
    if (!replay && !source.open(&error)) {
        std::fprintf(stderr, "bare-broadcaster: redis: %s\n", error.c_str());
        return 1;
    }
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    int wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    for (int fd : {lfd, wfd}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    }
    Broadcaster b(lfd, epfd, wfd, replay);
    std::thread reader([&] {
        std::string err;
        while (!replay && !g_stop.load()) {
            if (!source.read(500, [&](std::string &&frame) { b.push(std::move(frame)); }, &err)) {
                std::fprintf(stderr, "bare-broadcaster: redis: %s\n", err.c_str());
                g_stop.store(true);
            }
        }
    });
    std::printf("listening\n");
    std::fflush(stdout);
    b.run(g_stop);
    reader.join();
    return 0;
}
