#include "sidecar/registry/registry_writer.hpp"

#include <algorithm>
#include <vector>

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::registry {

namespace {

using Clock = std::chrono::steady_clock;
using Commands = std::vector<std::vector<std::string>>;
constexpr std::chrono::milliseconds kConnectTimeout{2000};
constexpr std::chrono::milliseconds kReadTimeout{5000};

// Runs commands; false (and *error) on a connection error or an error reply.
bool run_all(redis::Connection &conn, const Commands &commands, std::string *error) {
    if (commands.empty()) return true;
    auto replies = conn.pipeline(commands, error);
    if (replies.empty()) return false;
    for (auto &r : replies)
        if (redis::is_error_reply(r.get(), error)) return false;
    return true;
}

}  // namespace

RegistryWriter::RegistryWriter(RegistryConfig config, ops::Counters &counters)
    : config_(std::move(config)), counters_(counters) {}

RegistryWriter::~RegistryWriter() { stop(); }

void RegistryWriter::start() { thread_ = std::thread([this] { run(); }); }

void RegistryWriter::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void RegistryWriter::upsert(ClientRecord record) {
    std::string id = record.client_id;
    uint64_t generation = record.generation;
    enqueue(id, Update{std::move(record), generation});
}

void RegistryWriter::remove(const std::string &client_id, uint64_t generation) {
    enqueue(client_id, Update{std::nullopt, generation});
}

void RegistryWriter::enqueue(const std::string &client_id, Update update) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = pending_.find(client_id);
        if (it != pending_.end()) {
            it->second = std::move(update);
        } else if (pending_.size() >= config_.max_pending) {
            counters_.registry_ops_dropped.fetch_add(1);
            return;
        } else {
            pending_.emplace(client_id, std::move(update));
        }
    }
    wake_.notify_one();
}

void RegistryWriter::run() {
    const Keys &keys = config_.keys;
    redis::LinkState link("registry", config_.url.redacted());
    redis::Backoff backoff;
    std::unique_ptr<redis::Connection> conn;
    std::map<std::string, ClientRecord> held;  // every client this sidecar holds now
    Pending unsent;                            // changes to held not yet written
    bool resync = true;                        // rewrite everything (after a connect)
    auto next_heartbeat = Clock::now();
    auto next_connect = Clock::now();
    bool stopping = false;

    auto heartbeat = [&]() -> Commands {
        return {{"SET", keys.sidecar(), heartbeat_json(keys.sidecar_id, config_.listen, config_.started_at_ms, config_.presence_token), "EX",
                 std::to_string(config_.heartbeat_ttl.count())},
                {"SADD", keys.sidecars(), keys.sidecar_id}};
    };

    auto write_changes = [&](std::string *error) -> bool {
        Commands cmds;
        if (resync) {
            // Entries this sidecar wrote before a Redis outage may be stale: drop the
            // clients it no longer holds, then write every held client again. Both are
            // conditional: an id that said hello on another sidecar meanwhile keeps the
            // other sidecar's entry.
            auto members = conn->command({"SMEMBERS", keys.sidecar_clients()}, error);
            if (!members) return false;
            if (members->type == REDIS_REPLY_ARRAY) {
                for (size_t i = 0; i < members->elements; ++i) {
                    std::string id(members->element[i]->str, members->element[i]->len);
                    if (!held.count(id)) cmds.push_back(remove_client_command(keys, id, 0));
                }
            }
            for (const auto &[id, record] : held) {
                cmds.push_back(upsert_client_command(keys, record));
                cmds.push_back({"SADD", keys.sidecar_clients(), id});
            }
        } else {
            for (const auto &[id, update] : unsent) {
                if (update.record) {
                    cmds.push_back(upsert_client_command(keys, *update.record));
                    cmds.push_back({"SADD", keys.sidecar_clients(), id});
                } else {
                    cmds.push_back(remove_client_command(keys, id, update.generation));
                }
            }
        }
        if (!run_all(*conn, cmds, error)) return false;
        resync = false;
        unsent.clear();
        return true;
    };

    for (;;) {
        Pending incoming;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            auto until = conn ? next_heartbeat : std::min(next_heartbeat, next_connect);
            wake_.wait_until(lock, until, [&] { return stop_ || !pending_.empty(); });
            incoming.swap(pending_);
            stopping = stop_;
        }
        for (auto &[id, update] : incoming) {
            if (update.record) held[id] = *update.record;
            else held.erase(id);
            unsent[id] = std::move(update);
        }

        auto now = Clock::now();
        if (!conn && (now >= next_connect || stopping)) {
            std::string error;
            conn = redis::Connection::open(config_.url, kConnectTimeout, kReadTimeout, &error);
            if (conn) {
                link.up();
                backoff.reset();
                resync = true;
                next_heartbeat = now;
            } else {
                link.down(error);
                next_connect = now + backoff.next();
            }
        }
        if (conn) {
            std::string error;
            bool ok = write_changes(&error);
            if (ok && !stopping && Clock::now() >= next_heartbeat) {
                ok = run_all(*conn, heartbeat(), &error);
                next_heartbeat = Clock::now() + config_.heartbeat_every;
            }
            if (!ok) {
                conn.reset();
                link.down(error);
                resync = true;
                next_connect = Clock::now() + backoff.next();
            }
        }
        if (stopping) break;
    }

    // Clean shutdown: this sidecar holds nobody any more.
    if (!conn) {
        ops::warn("registry entries not removed: Redis unreachable at shutdown",
                  {{"sidecar", keys.sidecar_id}, {"clients", static_cast<uint64_t>(held.size())}});
        return;
    }
    Commands cmds;
    for (const auto &[id, record] : held) cmds.push_back(remove_client_command(keys, id, record.generation));
    cmds.push_back({"DEL", keys.sidecar_clients()});
    cmds.push_back({"DEL", keys.sidecar()});
    cmds.push_back({"SREM", keys.sidecars(), keys.sidecar_id});
    std::string error;
    if (run_all(*conn, cmds, &error))
        ops::info("registry entries removed", {{"sidecar", keys.sidecar_id}});
    else
        ops::warn("registry entries not removed", {{"sidecar", keys.sidecar_id}, {"error", error}});
}

}  // namespace livesync::registry
