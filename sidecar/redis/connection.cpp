#include "sidecar/redis/connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <sys/time.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "sidecar/ops/log.hpp"

namespace livesync::redis {

namespace {

// The sockets of every open Connection, for interrupt_all(). A socket is closed
// (redisFree) under the same lock, so interrupt_all() never shuts down a number the
// kernel has already given to another file.
struct OpenSockets {
    std::mutex mutex;
    std::set<int> fds;
    bool interrupted = false;
};

OpenSockets &open_sockets() {
    static OpenSockets sockets;
    return sockets;
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}
}  // namespace

bool is_error_reply(const redisReply *r, std::string *error) {
    if (r == nullptr || r->type != REDIS_REPLY_ERROR) return false;
    error->assign(r->str, r->len);
    return true;
}

Reply Connection::transaction(const std::vector<std::vector<std::string>> &commands, std::string *error) {
    return transaction(commands, {}, nullptr, error);
}

Reply Connection::transaction(const std::vector<std::vector<std::string>> &commands,
                              const std::vector<std::string> &then, Reply *then_reply, std::string *error) {
    std::vector<std::vector<std::string>> wrapped;
    wrapped.reserve(commands.size() + 3);
    wrapped.push_back({"MULTI"});
    wrapped.insert(wrapped.end(), commands.begin(), commands.end());
    wrapped.push_back({"EXEC"});
    if (!then.empty()) wrapped.push_back(then);
    std::vector<Reply> replies = pipeline(wrapped, error);
    if (replies.empty()) return nullptr;
    if (!then.empty()) {
        *then_reply = std::move(replies.back());
        replies.pop_back();
    }
    for (auto &r : replies)
        if (is_error_reply(r.get(), error)) return nullptr;
    Reply exec = std::move(replies.back());
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != commands.size()) {
        *error = "unexpected EXEC reply";
        return nullptr;
    }
    for (size_t i = 0; i < exec->elements; ++i)
        if (is_error_reply(exec->element[i], error)) return nullptr;
    return exec;
}

std::optional<common::HostPort> ask_sentinels(const common::RedisUrl &url, std::chrono::milliseconds timeout,
                                              std::string *error) {
    std::string failures;
    for (const common::HostPort &sentinel : url.sentinels) {
        std::string why;
        common::RedisUrl bare;  // Sentinels take no AUTH/SELECT of the data nodes
        auto conn = Connection::connect_node(sentinel, bare, timeout, timeout, &why);
        if (conn) {
            Reply r = conn->command({"SENTINEL", "get-master-addr-by-name", url.primary_name}, &why);
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_STRING &&
                r->element[1]->type == REDIS_REPLY_STRING) {
                common::HostPort primary{std::string(r->element[0]->str, r->element[0]->len), 0};
                std::string port(r->element[1]->str, r->element[1]->len);
                char *end = nullptr;
                long p = strtol(port.c_str(), &end, 10);
                if (*end == '\0' && p > 0 && p < 65536) {
                    primary.port = static_cast<int>(p);
                    return primary;
                }
                why = "answered a bad port \"" + port + "\"";
            } else if (r && !is_error_reply(r.get(), &why)) {
                why = "knows no primary named \"" + url.primary_name + "\"";
            }
        }
        if (!failures.empty()) failures += "; ";
        failures += "Sentinel " + sentinel.host + ":" + std::to_string(sentinel.port) + ": " + why;
    }
    *error = "no Sentinel named the primary: " + failures;
    return std::nullopt;
}

std::unique_ptr<Connection> Connection::open(const common::RedisUrl &url,
                                             std::chrono::milliseconds connect_timeout,
                                             std::chrono::milliseconds read_timeout, std::string *error) {
    common::HostPort node{url.host, url.port};
    if (!url.sentinels.empty()) {
        auto primary = ask_sentinels(url, connect_timeout, error);
        if (!primary) return nullptr;
        node = *primary;
    }
    auto conn = connect_node(node, url, connect_timeout, read_timeout, error);
    if (!conn || url.role != common::RedisRole::Primary) return conn;
    // A Sentinel's answer may be stale for a moment around a failover, and a demoted
    // primary keeps its address: writing there would fail (READONLY) or, worse, go to a
    // node about to be resynced. Only a master is used for writes.
    Reply role = conn->command({"ROLE"}, error);
    if (!role) return nullptr;
    if (is_error_reply(role.get(), error)) {
        *error = "ROLE failed: " + *error;
        return nullptr;
    }
    if (role->type != REDIS_REPLY_ARRAY || role->elements == 0 || role->element[0]->type != REDIS_REPLY_STRING) {
        *error = "unexpected ROLE reply";
        return nullptr;
    }
    std::string name(role->element[0]->str, role->element[0]->len);
    if (name != "master") {
        *error = node.host + ":" + std::to_string(node.port) + " is a " + name +
                 ", not the primary (waiting for the Sentinels to name the new one)";
        return nullptr;
    }
    return conn;
}

std::unique_ptr<Connection> Connection::connect_node(const common::HostPort &node, const common::RedisUrl &url,
                                                     std::chrono::milliseconds connect_timeout,
                                                     std::chrono::milliseconds read_timeout, std::string *error) {
    redisContext *ctx = redisConnectWithTimeout(node.host.c_str(), node.port, to_timeval(connect_timeout));
    if (ctx == nullptr) {
        *error = "cannot allocate a Redis context";
        return nullptr;
    }
    std::unique_ptr<Connection> conn(new Connection(ctx));
    conn->node_ = node;
    if (ctx->err) {
        *error = conn->connection_error();
        return nullptr;
    }
    {
        OpenSockets &open = open_sockets();
        std::lock_guard<std::mutex> lock(open.mutex);
        if (open.interrupted) {
            *error = "livesyncd is shutting down";
            return nullptr;
        }
        open.fds.insert(ctx->fd);
        conn->registered_ = true;
    }
    if (redisSetTimeout(ctx, to_timeval(read_timeout)) != REDIS_OK) {
        *error = "cannot set the Redis read timeout";
        return nullptr;
    }
    if (!url.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!url.user.empty()) auth.push_back(url.user);
        auth.push_back(url.password);
        Reply r = conn->command(auth, error);
        if (!r) return nullptr;
        std::string reply_error;
        if (is_error_reply(r.get(), &reply_error)) {
            // Redis' message never echoes the password.
            *error = "AUTH failed: " + reply_error;
            return nullptr;
        }
    }
    if (url.db != 0) {
        Reply r = conn->command({"SELECT", std::to_string(url.db)}, error);
        if (!r) return nullptr;
        std::string reply_error;
        if (is_error_reply(r.get(), &reply_error)) {
            *error = "SELECT failed: " + reply_error;
            return nullptr;
        }
    }
    return conn;
}

Connection::~Connection() {
    OpenSockets &open = open_sockets();
    std::lock_guard<std::mutex> lock(open.mutex);
    if (registered_) open.fds.erase(ctx_->fd);
    redisFree(ctx_);
}

void Connection::interrupt_all() {
    OpenSockets &open = open_sockets();
    std::lock_guard<std::mutex> lock(open.mutex);
    open.interrupted = true;
    for (int fd : open.fds) ::shutdown(fd, SHUT_RDWR);
}

bool Connection::interrupted() {
    OpenSockets &open = open_sockets();
    std::lock_guard<std::mutex> lock(open.mutex);
    return open.interrupted;
}

std::string Connection::connection_error() const {
    return ctx_->errstr[0] != '\0' ? std::string(ctx_->errstr) : std::string("Redis connection error");
}

bool Connection::append(const std::vector<std::string> &args) {
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string &a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data()) == REDIS_OK;
}

Reply Connection::command(const std::vector<std::string> &args, std::string *error) {
    auto replies = pipeline({args}, error);
    if (replies.empty()) return nullptr;
    return std::move(replies.front());
}

std::vector<Reply> Connection::pipeline(const std::vector<std::vector<std::string>> &commands,
                                        std::string *error) {
    std::vector<Reply> replies;
    if (ctx_->err) {
        *error = connection_error();
        return replies;
    }
    for (const auto &args : commands) {
        if (!append(args)) {
            *error = connection_error();
            return replies;
        }
    }
    for (size_t i = 0; i < commands.size(); ++i) {
        void *raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
            *error = connection_error();
            replies.clear();
            return replies;
        }
        replies.emplace_back(static_cast<redisReply *>(raw));
    }
    return replies;
}

void LinkState::up() {
    if (state_ == State::Up) return;
    state_ = State::Up;
    ops::info("redis up", {{"component", component_}, {"redis", url_}});
}

void LinkState::down(std::string_view error) {
    if (Connection::interrupted()) return;  // our own shutdown, not Redis going down
    if (state_ == State::Down) {
        // Another reason than the one logged, seen twice in a row: the lasting cause
        // (after a first "connection closed", say) is logged once.
        bool repeated = error == last_error_;
        last_error_ = error;
        if (!repeated || error == logged_error_) return;
        logged_error_ = error;
        ops::warn("redis still down", {{"component", component_}, {"redis", url_}, {"error", error}});
        return;
    }
    state_ = State::Down;
    last_error_ = error;
    logged_error_ = error;
    ops::warn("redis down", {{"component", component_}, {"redis", url_}, {"error", error}});
}

}  // namespace livesync::redis
