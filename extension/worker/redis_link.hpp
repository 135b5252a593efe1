// The replicator's Redis connection: hiredis in non-blocking mode, every wait through
// the worker's latch (wait_for_socket), every command bounded by livesync.redis_timeout.
// Any failure throws TransientError and leaves the link disconnected.
#pragma once

#include "common/redis_url.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::extension::worker {

struct ReplyDeleter {
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

using Command = std::vector<std::string_view>;

// livesync.redis_url with livesync.redis_sentinels / redis_primary_name applied, and its
// password replaced by the one in livesync.redis_password_file (read now: a rotated file
// is used at the next connect) or else the postmaster's LIVESYNC_REDIS_PASSWORD. A bad
// value or an unreadable file throws TransientError naming the GUC. A password written
// in the URL itself gets a WARNING (once per process and URL): Postgres logs the URL.
common::RedisUrl configured_redis_url();

class RedisLink {
public:
    RedisLink() = default;
    ~RedisLink() { disconnect(); }
    RedisLink(const RedisLink &) = delete;
    RedisLink &operator=(const RedisLink &) = delete;

    // With Sentinels in the URL, asks them first where the primary is (every connect
    // asks again, so a reconnect follows a failover); then AUTH, SELECT, and ROLE: a
    // node that is not a master is refused (TransientError), never written to.
    void connect(const common::RedisUrl &url, int timeout_ms);
    void disconnect();
    bool connected() const { return context_ != nullptr; }

    // Sends the commands as one pipeline and returns their replies in order. A Redis
    // error reply is returned as a reply (the caller decides), a broken link throws.
    std::vector<Reply> pipeline(const std::vector<Command> &commands);
    Reply command(const Command &command);

    // The same in two halves, so the caller can do other work while Redis answers:
    // send() queues and writes the commands (hiredis copies them: the views may die
    // after it returns); poll() reads what has arrived without waiting and returns true
    // once `count` replies are in `replies`; receive() waits for them.
    void send(const std::vector<Command> &commands);
    bool poll(size_t count, std::vector<Reply> &replies);
    std::vector<Reply> receive(size_t count);
    int socket() const { return context_ ? context_->fd : -1; }

private:
    void connect_node(const common::HostPort &node, const common::RedisUrl &url, int timeout_ms);
    common::HostPort ask_sentinels(const common::RedisUrl &url, int timeout_ms);
    void fail(const std::string &what);
    void write_all(int64_t deadline);
    Reply read_reply(int64_t deadline);

    redisContext *context_ = nullptr;
    int timeout_ms_ = 5000;
    int64_t sent_at_ms_ = 0;
};

}  // namespace livesync::extension::worker
