// nchan-relay: feeds nginx + Nchan in bench/fanout (never a test). Reads the same Redis
// stream livesyncd reads (stream_frames.hpp), builds each transaction's JSON `changes`
// frame once, and POSTs it to Nchan's publisher location over ONE keep-alive HTTP/1.1
// connection, waiting for each answer (Nchan answers 201/202 once the message is in the
// channel). Nchan then writes it, as a WebSocket text message, to every subscriber.
// Nchan's own Redis mode keeps its messages in a layout of its own, so it cannot read our
// stream: this relay is the bridge, and its CPU is reported beside nginx's.
//
// usage: nchan-relay --pub-port PORT --pub-path /pub --redis-port PORT [--redis-host H]
//                    [--key {livesync}:changes] [--table public.bench]
// prints "relaying" on stdout once both connections are open; on SIGTERM prints one JSON
// line {"frames":N,"bytes":N,"errors":N}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/fanout/stream_frames.hpp"
#include "common/redis_keys.hpp"

namespace {

std::atomic<bool> g_stop{false};

bool write_all(int fd, const std::string &s) {
    size_t off = 0;
    while (off < s.size()) {
        ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        off += static_cast<size_t>(w);
    }
    return true;
}

// Reads one HTTP response (headers and a Content-Length body); returns its status or -1.
int read_response(int fd, std::string &buf) {
    for (;;) {
        size_t end = buf.find("\r\n\r\n");
        if (end != std::string::npos) {
            int status = buf.size() > 12 ? std::atoi(buf.c_str() + 9) : -1;
            size_t length = 0;
            std::string head = buf.substr(0, end);
            for (char &c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            size_t at = head.find("\r\ncontent-length:");
            if (at != std::string::npos) length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
            if (buf.size() >= end + 4 + length) {
                buf.erase(0, end + 4 + length);
                return status;
            }
        }
        char tmp[8192];
        ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        buf.append(tmp, static_cast<size_t>(r));
    }
}

}  // namespace

int main(int argc, char **argv) {
    int pub_port = 0, redis_port = 6379;
    std::string pub_path = "/pub", redis_host = "127.0.0.1", key = livesync::common::RedisKeys().changes(),
                table = "public.bench";
    for (int i = 1; i < argc; i += 2) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "nchan-relay: %s needs a value\n", a.c_str());
            return 2;
        }
        const char *v = argv[i + 1];
        if (a == "--pub-port") pub_port = std::atoi(v);
        else if (a == "--pub-path") pub_path = v;
        else if (a == "--redis-port") redis_port = std::atoi(v);
        else if (a == "--redis-host") redis_host = v;
        else if (a == "--key") key = v;
        else if (a == "--table") table = v;
        else {
            std::fprintf(stderr, "nchan-relay: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    if (pub_port <= 0) {
        std::fprintf(stderr, "usage: nchan-relay --pub-port PORT [--pub-path P] --redis-port PORT [--key K] [--table T]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_stop.store(true); };
    sigaction(SIGTERM, &sa, nullptr);  // no SA_RESTART: the blocked read returns EINTR
    sigaction(SIGINT, &sa, nullptr);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(pub_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
        std::perror("nchan-relay: connect");
        return 1;
    }
    livesync::bench::StreamFrames source(redis_host, redis_port, key, table);
    std::string error;
    if (!source.open(&error)) {
        std::fprintf(stderr, "nchan-relay: redis: %s\n", error.c_str());
        return 1;
    }
    std::printf("relaying\n");
    std::fflush(stdout);
    const std::string head = "POST " + pub_path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             "Accept: text/plain\r\nContent-Length: ";
    long frames = 0, bytes = 0, errors = 0;
    std::string request, response;
    bool broken = false;
    while (!g_stop.load() && !broken) {
        bool ok = source.read(500, [&](std::string &&frame) {
            if (broken) return;
            request.assign(head);
            request += std::to_string(frame.size());
            request += "\r\n\r\n";
            request += frame;
            int status = write_all(fd, request) ? read_response(fd, response) : -1;
            if (status < 0) {
                std::fprintf(stderr, "nchan-relay: the publisher connection failed\n");
                broken = true;
                return;
            }
            if (status != 201 && status != 202) ++errors;
            ++frames;
            bytes += static_cast<long>(frame.size());
        }, &error);
        if (!ok && !g_stop.load()) {
            std::fprintf(stderr, "nchan-relay: redis: %s\n", error.c_str());
            break;
        }
    }
    std::printf("{\"frames\":%ld,\"bytes\":%ld,\"errors\":%ld}\n", frames, bytes, errors);
    std::fflush(stdout);
    close(fd);
    return broken ? 1 : 0;
}
