#include "redis_link.hpp"

#include "worker_wait.hpp"

extern "C" {
#include "storage/latch.h"
}

#include <sys/socket.h>

namespace livesync::extension::worker {

void RedisLink::fail(const std::string &what) {
    std::string message = what;
    if (context_ && context_->err) message += ": " + std::string(context_->errstr);
    disconnect();
    throw TransientError(message);
}

void RedisLink::disconnect() {
    if (context_) redisFree(context_);
    context_ = nullptr;
}

void RedisLink::connect(const common::RedisUrl &url, int timeout_ms) {
    disconnect();
    timeout_ms_ = timeout_ms;
    context_ = redisConnectNonBlock(url.host.c_str(), url.port);
    if (context_ == nullptr) throw TransientError("cannot allocate a Redis context");
    if (context_->err) fail("cannot connect to Redis at " + url.redacted());

    int64_t deadline = now_ms() + timeout_ms_;
    for (;;) {
        int rc = wait_for_socket(context_->fd, WL_SOCKET_WRITEABLE, deadline - now_ms());
        if (rc & WL_SOCKET_WRITEABLE) break;
        if (now_ms() >= deadline) fail("timed out connecting to Redis at " + url.redacted());
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(context_->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0)
        fail("cannot connect to Redis at " + url.redacted() + ": " + strerror(so_error));

    if (!url.password.empty()) {
        Command auth = {"AUTH"};
        if (!url.user.empty()) auth.push_back(url.user);
        auth.push_back(url.password);
        Reply r = command(auth);
        if (r->type == REDIS_REPLY_ERROR) fail("Redis refused the password in livesync.redis_url");
    }
    if (url.db != 0) {
        std::string db = std::to_string(url.db);
        Reply r = command({"SELECT", db});
        if (r->type == REDIS_REPLY_ERROR) fail("Redis refused SELECT " + db + ": " + std::string(r->str, r->len));
    }
}

void RedisLink::write_all(int64_t deadline) {
    int done = 0;
    while (!done) {
        if (redisBufferWrite(context_, &done) == REDIS_ERR) fail("write to Redis failed");
        if (done) break;
        wait_for_socket(context_->fd, WL_SOCKET_WRITEABLE, deadline - now_ms());
        if (now_ms() >= deadline) fail("timed out writing to Redis");
    }
}

Reply RedisLink::read_reply(int64_t deadline) {
    for (;;) {
        void *raw = nullptr;
        if (redisGetReplyFromReader(context_, &raw) == REDIS_ERR) fail("bad reply from Redis");
        if (raw != nullptr) return Reply(static_cast<redisReply *>(raw));
        int rc = wait_for_socket(context_->fd, WL_SOCKET_READABLE, deadline - now_ms());
        if (rc & WL_SOCKET_READABLE) {
            if (redisBufferRead(context_) == REDIS_ERR) fail("read from Redis failed");
        } else if (now_ms() >= deadline) {
            fail("timed out waiting for Redis");
        }
    }
}

void RedisLink::send(const std::vector<Command> &commands) {
    if (!context_) throw TransientError("not connected to Redis");
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const Command &c : commands) {
        argv.clear();
        lens.clear();
        for (std::string_view a : c) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK)
            fail("cannot queue a Redis command");
    }
    write_all(now_ms() + timeout_ms_);
    sent_at_ms_ = now_ms();
}

bool RedisLink::poll(size_t count, std::vector<Reply> &replies) {
    if (!context_) throw TransientError("not connected to Redis");
    // Non-blocking socket: a read with nothing to read is not an error.
    if (redisBufferRead(context_) == REDIS_ERR) fail("read from Redis failed");
    while (replies.size() < count) {
        void *raw = nullptr;
        if (redisGetReplyFromReader(context_, &raw) == REDIS_ERR) fail("bad reply from Redis");
        if (raw == nullptr) break;
        replies.emplace_back(static_cast<redisReply *>(raw));
    }
    if (replies.size() < count && now_ms() - sent_at_ms_ > timeout_ms_) fail("timed out waiting for Redis");
    return replies.size() == count;
}

std::vector<Reply> RedisLink::receive(size_t count) {
    int64_t deadline = sent_at_ms_ + timeout_ms_;
    std::vector<Reply> replies;
    replies.reserve(count);
    for (size_t i = 0; i < count; ++i) replies.push_back(read_reply(deadline));
    return replies;
}

std::vector<Reply> RedisLink::pipeline(const std::vector<Command> &commands) {
    send(commands);
    return receive(commands.size());
}

Reply RedisLink::command(const Command &c) { return std::move(pipeline({c}).front()); }

}  // namespace livesync::extension::worker
