// redis/: the blocking hiredis connections livesyncd's Redis threads own (one each, held
// by its RedisWorker: redis_worker.hpp; the lws thread never touches Redis).
// Connection is RAII over redisContext; LinkState logs up/down transitions once each,
// never every retry.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_url.hpp"

namespace livesync::redis {

struct ReplyDeleter {
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

class Connection {
public:
    // Connects, then AUTH and SELECT as the URL asks. With Sentinels in the URL, it first
    // asks them, in order, where the primary is (SENTINEL get-master-addr-by-name), so
    // every reconnect follows a failover. With role Primary it then checks ROLE and
    // refuses a node that is not a master. Returns nullptr and sets *error (never
    // containing the password) when any step fails.
    static std::unique_ptr<Connection> open(const common::RedisUrl &url,
                                            std::chrono::milliseconds connect_timeout,
                                            std::chrono::milliseconds read_timeout, std::string *error);
    ~Connection();
    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;

    // Runs one command. Returns nullptr on a connection error (the connection is then
    // unusable) and sets *error; an error reply from Redis is returned as a reply.
    Reply command(const std::vector<std::string> &args, std::string *error);

    // Pipelines several commands; returns their replies in order, or an empty vector
    // on a connection error.
    std::vector<Reply> pipeline(const std::vector<std::vector<std::string>> &commands, std::string *error);

    // Runs the commands in one MULTI/EXEC. Returns EXEC's reply -- an array with one
    // reply per command, none of them an error -- or nullptr with *error set.
    Reply transaction(const std::vector<std::vector<std::string>> &commands, std::string *error);
    // The same, with `then` sent in the same write after EXEC: Redis runs it right after
    // the transaction, with no round trip in between for another client's command (a
    // blocking `then`, such as XREAD BLOCK, makes this call wait for it). *then_reply
    // gets its reply, which may be an error reply.
    Reply transaction(const std::vector<std::vector<std::string>> &commands, const std::vector<std::string> &then,
                      Reply *then_reply, std::string *error);

    // Process shutdown: shuts down the socket of every open Connection, so a thread
    // blocked in a command (XREAD BLOCK waits up to its block time) gets an error at
    // once, and makes open() fail from now on. Called once the writers have flushed;
    // the readers then see their stop flags and return. Thread-safe.
    static void interrupt_all();
    static bool interrupted();

    // Connects to `node` itself (no Sentinel, no ROLE check), with the URL's AUTH/SELECT.
    static std::unique_ptr<Connection> connect_node(const common::HostPort &node, const common::RedisUrl &url,
                                                    std::chrono::milliseconds connect_timeout,
                                                    std::chrono::milliseconds read_timeout, std::string *error);

    // The node this connection reached (after Sentinel discovery).
    const common::HostPort &node() const { return node_; }

private:
    explicit Connection(redisContext *ctx) : ctx_(ctx) {}
    common::HostPort node_;
    bool append(const std::vector<std::string> &args);
    std::string connection_error() const;
    redisContext *ctx_;
    bool registered_ = false;  // in the set interrupt_all() shuts down
};

// True for a reply that is a Redis error; *error gets its text.
bool is_error_reply(const redisReply *r, std::string *error);

// Asks the URL's Sentinels, in order, for the address of its primary; the first that
// names one wins. nullopt and *error (each Sentinel's failure) when none does.
std::optional<common::HostPort> ask_sentinels(const common::RedisUrl &url, std::chrono::milliseconds timeout,
                                              std::string *error);

// Logs "redis up" / "redis down" once per transition for one component, and once more
// ("redis still down") when a different reason lasts (two failures in a row).
class LinkState {
public:
    LinkState(std::string component, std::string redacted_url)
        : component_(std::move(component)), url_(std::move(redacted_url)) {}
    void up();
    void down(std::string_view error);

private:
    enum class State { Unknown, Up, Down };
    State state_ = State::Unknown;
    std::string last_error_;    // the latest failure's reason
    std::string logged_error_;  // the reason last logged
    std::string component_;
    std::string url_;
};

}  // namespace livesync::redis
