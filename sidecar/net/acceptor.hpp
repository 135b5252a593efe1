// The listening socket of livesyncd, owned here rather than by libwebsockets: one thread
// accepts connections and hands each to a service thread (net/server_group.hpp), which
// adopts it into its own lws context. lws built without SMP support (Debian's, LWS_MAX_SMP
// 1) serves one thread per context, so several contexts share this one listener.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace livesync::net {

class Acceptor {
public:
    // on_accept gets each accepted socket (non-blocking, close-on-exec, TCP_NODELAY) and
    // owns it from then on.
    explicit Acceptor(std::function<void(int fd)> on_accept) : on_accept_(std::move(on_accept)) {}
    ~Acceptor();
    Acceptor(const Acceptor &) = delete;
    Acceptor &operator=(const Acceptor &) = delete;

    // Binds and listens on host:port (an IPv6 literal listens on IPv6); false and *error
    // (which says the address and why) on failure.
    bool listen(const std::string &host, int port, std::string *error);
    void start();
    // Stops accepting and closes the listening socket (a new livesyncd may bind the port
    // at once); returns once the thread ended. Idempotent.
    void stop();

private:
    void run();

    std::function<void(int)> on_accept_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() wakes the poll
    std::thread thread_;
};

}  // namespace livesync::net
