#include "sidecar/net/acceptor.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "sidecar/ops/log.hpp"

namespace livesync::net {

Acceptor::~Acceptor() {
    stop();
    if (wake_fd_ >= 0) close(wake_fd_);
}

bool Acceptor::listen(const std::string &host, int port, std::string *error) {
    const std::string where = host + ":" + std::to_string(port);
    struct addrinfo hints;
    std::memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = host.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    struct addrinfo *found = nullptr;
    std::string service = std::to_string(port);
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) {
        *error = "cannot listen on " + where + ": " + gai_strerror(rc);
        return false;
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
              (found->ai_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
              bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0;
    int saved = errno;
    freeaddrinfo(found);
    if (!ok) {
        *error = "cannot listen on " + where + ": " + std::strerror(saved);
        if (fd >= 0) close(fd);
        return false;
    }
    listen_fd_ = fd;
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        *error = std::string("eventfd: ") + std::strerror(errno);
        return false;
    }
    return true;
}

void Acceptor::start() { thread_ = std::thread([this] { run(); }); }

void Acceptor::stop() {
    if (thread_.joinable()) {
        uint64_t one = 1;
        (void)!write(wake_fd_, &one, sizeof one);
        thread_.join();
    }
    if (listen_fd_ >= 0) {
        close(listen_fd_);
        listen_fd_ = -1;
    }
}

void Acceptor::run() {
    struct pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            ops::error("accept loop: poll failed", {{"error", std::strerror(errno)}});
            return;
        }
        if (fds[1].revents) return;
        // Take every connection waiting now.
        for (;;) {
            int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                // EMFILE/ENFILE/ENOBUFS: the connection stays in the backlog; try again
                // shortly instead of spinning on a listener that stays readable.
                ops::warn("accept failed", {{"error", std::strerror(errno)}});
                struct pollfd wake = {wake_fd_, POLLIN, 0};
                if (poll(&wake, 1, 100) > 0) return;
                break;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            on_accept_(fd);
        }
    }
}

}  // namespace livesync::net
