#include "sidecar/registry/registry_writer.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"

namespace livesync::registry {

namespace {

using redis::Clock;
using Commands = std::vector<std::vector<std::string>>;

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
    : config_(std::move(config)), counters_(counters),
      worker_(redis::WorkerOptions("registry", config_.url, std::chrono::milliseconds(5000),
                                   [this](redis::Connection &, std::string *) {
                                       resync_ = true;
                                       next_heartbeat_ = Clock::now();
                                       return true;
                                   }),
              Inbox(config_.max_pending)) {}

RegistryWriter::~RegistryWriter() { stop(); }

void RegistryWriter::start() { worker_.start([this] { run(); }); }

void RegistryWriter::stop() { worker_.stop(); }

void RegistryWriter::upsert(ClientRecord record) {
    std::string id = record.client_id;
    uint64_t generation = record.generation;
    enqueue(id, Update{std::move(record), generation});
}

void RegistryWriter::remove(const std::string &client_id, uint64_t generation) {
    enqueue(client_id, Update{std::nullopt, generation});
}

void RegistryWriter::enqueue(const std::string &client_id, Update update) {
    if (!worker_.post(client_id, std::move(update))) counters_.registry_ops_dropped.fetch_add(1);
}

void RegistryWriter::run() {
    const Keys &keys = config_.keys;
    std::map<std::string, ClientRecord> held;  // every client this sidecar holds now
    Inbox::Batch unsent;                       // changes to held not yet written

    auto heartbeat = [&]() -> Commands {
        return {{"SET", keys.sidecar(), heartbeat_json(keys.sidecar_id, config_.advertise_url, config_.started_at_ms, config_.presence_token), "EX",
                 std::to_string(config_.heartbeat_ttl.count())},
                {"SADD", keys.sidecars(), keys.sidecar_id}};
    };

    auto write_changes = [&](redis::Connection &conn, std::string *error) -> bool {
        Commands cmds;
        if (resync_) {
            // Entries this sidecar wrote before a Redis outage may be stale: drop the
            // clients it no longer holds, then write every held client again. Both are
            // conditional: an id that said hello on another sidecar meanwhile keeps the
            // other sidecar's entry.
            auto members = conn.command({"SMEMBERS", keys.sidecar_clients()}, error);
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
        if (!run_all(conn, cmds, error)) return false;
        resync_ = false;
        unsent.clear();
        return true;
    };

    for (;;) {
        auto until = worker_.current() ? next_heartbeat_ : std::min(next_heartbeat_, worker_.next_attempt());
        auto work = worker_.wait_for_work(until);
        const bool stopping = work.stopping;
        for (auto &[id, update] : work.items) {
            if (update.record) held[id] = *update.record;
            else held.erase(id);
            unsent[id] = std::move(update);
        }

        // Stopping: one attempt whatever the backoff, to remove this sidecar's entries.
        redis::Connection *conn =
            worker_.connection(stopping ? redis::RedisWorker::Attempt::Now : redis::RedisWorker::Attempt::WhenDue);
        if (conn) {
            std::string error;
            bool ok = write_changes(*conn, &error);
            if (ok && !stopping && Clock::now() >= next_heartbeat_) {
                ok = run_all(*conn, heartbeat(), &error);
                next_heartbeat_ = Clock::now() + config_.heartbeat_every;
            }
            if (!ok) worker_.lost(error);
        }
        if (stopping) break;
    }

    // Clean shutdown: this sidecar holds nobody any more.
    redis::Connection *conn = worker_.current();
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
