#include "redis_link.hpp"

#include "extension/livesync.hpp"
#include "extension/pg_guard.hpp"
#include "worker_wait.hpp"

#include <cstdlib>

extern "C" {
#include "storage/latch.h"
}

#include <sys/socket.h>

namespace livesync::extension::worker {

common::RedisUrl configured_redis_url() {
    std::string error;
    auto url = common::parse_redis_url(settings.redis_url, &error);
    if (!url) throw TransientError("livesync.redis_url is invalid: " + error);
    auto sentinels = common::parse_sentinel_list(settings.redis_sentinels ? settings.redis_sentinels : "", &error);
    if (!sentinels) throw TransientError("livesync.redis_sentinels is invalid: " + error);
    url->sentinels = std::move(*sentinels);
    url->primary_name = settings.redis_primary_name ? settings.redis_primary_name : "";
    if (!url->password.empty()) {
        static std::string warned_for;  // this process's last URL warned about
        if (warned_for != settings.redis_url) {
            warned_for = settings.redis_url;
            std::string redacted = url->redacted();
            pg_call([&] {
                ereport(WARNING,
                        (errmsg("livesync.redis_url holds a password (%s)", redacted.c_str()),
                         errdetail("Postgres writes the whole setting to its log when it changes, and ALTER SYSTEM "
                                   "to postgresql.auto.conf."),
                         errhint("Put the password in a file only the postgres user can read, set "
                                 "livesync.redis_password_file to it, and remove the password from the URL.")));
            });
        }
    }
    const char *file = settings.redis_password_file;
    if (file && *file) {
        auto password = common::read_secret_file(file, &error);
        if (!password) throw TransientError("livesync.redis_password_file: " + error);
        url->password = std::move(*password);
    } else if (const char *env = std::getenv("LIVESYNC_REDIS_PASSWORD"); env && *env) {
        url->password = env;
    }
    return *url;
}

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

common::HostPort RedisLink::ask_sentinels(const common::RedisUrl &url, int timeout_ms) {
    std::string failures;
    for (const common::HostPort &sentinel : url.sentinels) {
        std::string where = "Sentinel " + sentinel.host + ":" + std::to_string(sentinel.port);
        std::string why;
        try {
            RedisLink link;
            link.connect_node(sentinel, common::RedisUrl{}, timeout_ms);  // no AUTH/SELECT of the data nodes
            Reply r = link.command({"SENTINEL", "get-master-addr-by-name", url.primary_name});
            if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
                r->element[1]->type == REDIS_REPLY_STRING) {
                std::string port(r->element[1]->str, r->element[1]->len);
                char *end = nullptr;
                long p = strtol(port.c_str(), &end, 10);
                if (*end == '\0' && p > 0 && p < 65536)
                    return common::HostPort{std::string(r->element[0]->str, r->element[0]->len), static_cast<int>(p)};
                why = "answered a bad port \"" + port + "\"";
            } else if (r->type == REDIS_REPLY_ERROR) {
                why = std::string(r->str, r->len);
            } else {
                why = "knows no primary named \"" + url.primary_name + "\"";
            }
        } catch (const TransientError &e) {
            why = e.what();
        }
        failures += (failures.empty() ? "" : "; ") + where + ": " + why;
    }
    throw TransientError("no Sentinel of livesync.redis_sentinels named the primary: " + failures);
}

void RedisLink::connect(const common::RedisUrl &url, int timeout_ms) {
    common::HostPort node{url.host, url.port};
    if (!url.sentinels.empty()) node = ask_sentinels(url, timeout_ms);
    connect_node(node, url, timeout_ms);
    if (url.role != common::RedisRole::Primary) return;
    // A Sentinel's answer can be stale for a moment around a failover, and a demoted
    // primary keeps its address: the replicator writes only to a master.
    Reply role = command({"ROLE"});
    if (role->type != REDIS_REPLY_ARRAY || role->elements == 0 || role->element[0]->type != REDIS_REPLY_STRING)
        fail("unexpected ROLE reply from Redis at " + node.host + ":" + std::to_string(node.port));
    std::string name(role->element[0]->str, role->element[0]->len);
    if (name != "master")
        fail("Redis at " + node.host + ":" + std::to_string(node.port) + " is a " + name +
             ", not the primary (waiting for the Sentinels to name the new one)");
}

void RedisLink::connect_node(const common::HostPort &node, const common::RedisUrl &url, int timeout_ms) {
    disconnect();
    timeout_ms_ = timeout_ms;
    std::string where = node.host + ":" + std::to_string(node.port);
    context_ = redisConnectNonBlock(node.host.c_str(), node.port);
    if (context_ == nullptr) throw TransientError("cannot allocate a Redis context");
    if (context_->err) fail("cannot connect to Redis at " + where);

    int64_t deadline = now_ms() + timeout_ms_;
    for (;;) {
        int rc = wait_for_socket(context_->fd, WL_SOCKET_WRITEABLE, deadline - now_ms());
        if (rc & WL_SOCKET_WRITEABLE) break;
        if (now_ms() >= deadline) fail("timed out connecting to Redis at " + where);
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (getsockopt(context_->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0)
        fail("cannot connect to Redis at " + where + ": " + strerror(so_error));

    if (!url.password.empty()) {
        Command auth = {"AUTH"};
        if (!url.user.empty()) auth.push_back(url.user);
        auth.push_back(url.password);
        Reply r = command(auth);
        if (r->type == REDIS_REPLY_ERROR)
            fail("Redis refused the password (of livesync.redis_password_file, else LIVESYNC_REDIS_PASSWORD, else "
                 "livesync.redis_url)");
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
