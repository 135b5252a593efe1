// The replicator: reads the slot, groups whole transactions into batches, XADDs each
// batch to the Redis stream under an ID derived from its last commit LSN, and only then
// confirms the slot. On any failure it starts over from the slot's confirmed position
// and skips what Redis already holds, so nothing is lost and nothing is doubled.
#include "extension/livesync.hpp"
#include "extension/pg_guard.hpp"
#include "published_config.hpp"
#include "redis_link.hpp"
#include "slot_stream.hpp"
#include "worker_wait.hpp"

#include "common/batch_writer.hpp"
#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "common/redis_url.hpp"

extern "C" {
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

PGDLLEXPORT void livesync_replicator_main(Datum);
}

#include <msgpack.h>

#include <algorithm>
#include <optional>

namespace livesync::extension::worker {

namespace {

namespace common = livesync::common;

constexpr long kFeedbackIntervalMs = 10000;
constexpr long kMinBackoffMs = 100;
constexpr long kMaxBackoffMs = 5000;

void handle_sigterm(SIGNAL_ARGS) {
    int saved_errno = errno;
    shutdown_requested = 1;
    SetLatch(MyLatch);
    errno = saved_errno;
}

void handle_sighup(SIGNAL_ARGS) {
    int saved_errno = errno;
    reload_requested = 1;
    SetLatch(MyLatch);
    errno = saved_errno;
}

// Reads the [lsn, xid, commit_unix_usec] payload of a 'B' message.
struct BeginInfo {
    uint64_t lsn;
    uint32_t xid;
    int64_t commit_unix_usec;
};

std::optional<BeginInfo> decode_begin(std::string_view payload) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    std::optional<BeginInfo> out;
    if (msgpack_unpack_next(&u, payload.data(), payload.size(), &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 3) {
        const msgpack_object *f = u.data.via.array.ptr;
        if (f[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            (f[2].type == MSGPACK_OBJECT_POSITIVE_INTEGER || f[2].type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
            out = BeginInfo{f[0].via.u64, static_cast<uint32_t>(f[1].via.u64), f[2].via.i64};
    }
    msgpack_unpacked_destroy(&u);
    return out;
}

class Replicator {
public:
    void run();

private:
    void session();
    void connect_redis();
    void read_stream_tail();
    void handle_data(std::string_view payload);
    void publish();
    void confirm(XLogRecPtr position);
    void maybe_reload();
    void note_failure(const std::string &message);
    void note_recovered();

    std::string key(const char *suffix) const { return std::string(settings.redis_prefix) + suffix; }

    RedisLink redis_;
    SlotStream slot_;
    common::BatchWriter batch_;
    PublishedConfig config_;
    std::string conninfo_;

    common::StreamId stream_tail_{};  // newest entry ID in Redis
    bool skipping_txn_ = false;       // the open transaction is already in Redis
    bool in_txn_ = false;
    XLogRecPtr confirmed_ = InvalidXLogRecPtr;
    int64_t last_feedback_ms_ = 0;
    std::string last_failure_;  // logged once per distinct failure, not per retry
};

void Replicator::note_failure(const std::string &message) {
    pg_atomic_write_u32(&worker_state()->redis_connected, redis_.connected() ? 1 : 0);
    pg_atomic_write_u32(&worker_state()->slot_connected, 0);
    if (message == last_failure_) return;
    last_failure_ = message;
    ereport(WARNING, (errmsg("livesync replicator: %s", message.c_str()),
                      errdetail("Retrying with backoff; the slot stays at %s until Redis has the changes.",
                                common::format_lsn(confirmed_).c_str())));
}

void Replicator::note_recovered() {
    if (!last_failure_.empty())
        ereport(LOG, (errmsg("livesync replicator: streaming again (slot \"%s\" to Redis)", settings.slot_name)));
    last_failure_.clear();
}

void Replicator::maybe_reload() {
    if (!reload_requested) return;
    reload_requested = 0;
    ProcessConfigFile(PGC_SIGHUP);
}

void Replicator::connect_redis() {
    std::string error;
    auto url = common::parse_redis_url(settings.redis_url, &error);
    if (!url) throw TransientError("livesync.redis_url is invalid: " + error);
    redis_.connect(*url, settings.redis_timeout_ms);
    pg_atomic_write_u32(&worker_state()->redis_connected, 1);
}

void Replicator::read_stream_tail() {
    std::string stream = key("changes");
    Reply r = redis_.command({"XREVRANGE", stream, "+", "-", "COUNT", "1"});
    if (r->type == REDIS_REPLY_ERROR) throw TransientError("XREVRANGE failed: " + std::string(r->str, r->len));
    stream_tail_ = {};
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        redisReply *entry = r->element[0];
        if (entry->type == REDIS_REPLY_ARRAY && entry->elements >= 1 && entry->element[0]->type == REDIS_REPLY_STRING) {
            auto id = common::parse_stream_id(std::string_view(entry->element[0]->str, entry->element[0]->len));
            if (!id) throw TransientError("the newest entry of " + stream + " has an ID livesync did not write");
            stream_tail_ = *id;
        }
    }
}

void Replicator::confirm(XLogRecPtr position) {
    if (position > confirmed_) confirmed_ = position;
    slot_.confirm(confirmed_);
    last_feedback_ms_ = now_ms();
    pg_atomic_write_u64(&worker_state()->confirmed_lsn, confirmed_);
}

void Replicator::handle_data(std::string_view payload) {
    if (payload.empty()) throw TransientError("empty message from the output plugin");
    char tag = payload[0];
    std::string_view body = payload.substr(1);
    switch (tag) {
        case common::kTagBegin: {
            auto begin = decode_begin(body);
            if (!begin) throw TransientError("malformed begin message from the output plugin");
            in_txn_ = true;
            // Already in Redis from before a restart: its commit LSN is not above the tail.
            skipping_txn_ = begin->lsn <= stream_tail_.lsn;
            if (!skipping_txn_) batch_.begin_txn(begin->lsn, begin->xid, begin->commit_unix_usec, 0);
            pg_atomic_write_u64(&worker_state()->last_commit_time,
                                static_cast<uint64_t>(begin->commit_unix_usec -
                                                      common::pg_timestamp_to_unix_usec(0)));
            break;
        }
        case common::kTagChange:
        case common::kTagConfig:
            if (!in_txn_) throw TransientError("change outside a transaction from the output plugin");
            if (skipping_txn_) break;
            batch_.add_change(body);
            if (tag == common::kTagConfig) config_.apply(body);
            break;
        case common::kTagCommit:
            if (!in_txn_) throw TransientError("commit outside a transaction from the output plugin");
            in_txn_ = false;
            if (!skipping_txn_) batch_.end_txn(true);
            skipping_txn_ = false;
            if (batch_.size() >= static_cast<size_t>(settings.batch_max_bytes)) publish();
            break;
        default: throw TransientError(std::string("unknown message tag '") + tag + "' from the output plugin");
    }
}

void Replicator::publish() {
    if (batch_.txn_count() == 0) return;
    std::string stream = key("changes");
    std::string id = common::format_stream_id({batch_.last_lsn(), 0});
    std::string_view bytes = batch_.bytes();
    std::vector<Command> commands;
    bool with_config = config_.dirty();
    if (with_config) commands.push_back({"MULTI"});
    commands.push_back({"XADD", stream, id, "batch", bytes});
    if (with_config) {
        config_.append_commands(key("tables"), commands);
        commands.push_back({"EXEC"});
    }
    std::vector<Reply> replies = redis_.pipeline(commands);
    const redisReply *result = replies.back().get();
    if (with_config && result->type == REDIS_REPLY_ARRAY && result->elements > 0) result = result->element[0];
    if (result->type != REDIS_REPLY_STRING)
        throw TransientError("XADD " + id + " failed: " +
                             (result->type == REDIS_REPLY_ERROR ? std::string(result->str, result->len)
                                                                : std::string("transaction aborted")));
    WorkerState *st = worker_state();
    stream_tail_ = {batch_.last_lsn(), 0};
    pg_atomic_write_u64(&st->published_lsn, batch_.last_lsn());
    pg_atomic_fetch_add_u64(&st->batches_published, 1);
    pg_atomic_fetch_add_u64(&st->changes_published, batch_.change_count());
    pg_atomic_fetch_add_u64(&st->bytes_published, bytes.size());
    XLogRecPtr published = batch_.last_lsn();
    batch_.clear();
    config_.clear_pending();
    // Redis acknowledged: only now may the slot move past these transactions.
    confirm(published);
}

void Replicator::session() {
    batch_.clear();
    config_.clear_pending();
    in_txn_ = skipping_txn_ = false;

    const char *plugins = GetConfigOption("output_plugin_libraries", true, false);
    if (plugins != nullptr && !PublishedConfig::list_has(plugins, "livesync"))
        throw TransientError(std::string("output_plugin_libraries ('") + plugins +
                             "') does not name livesync, so Postgres will not load the livesync output plugin; "
                             "add livesync to output_plugin_libraries in postgresql.conf and reload");

    connect_redis();
    read_stream_tail();
    config_.seed_if_missing(redis_, key("tables"));
    slot_.open(conninfo_, settings.slot_name);
    pg_atomic_write_u32(&worker_state()->slot_connected, 1);
    note_recovered();

    for (;;) {
        maybe_reload();
        // Drain everything the walsender has sent so far.
        for (;;) {
            SlotMessage msg = slot_.receive();
            if (msg.kind == SlotMessage::Kind::None) break;
            if (msg.kind == SlotMessage::Kind::Data) {
                handle_data(msg.payload);
            } else {
                // Everything up to wal_end was sent; with nothing open or pending, the
                // WAL before it holds nothing for us and the slot may move on.
                if (!in_txn_ && batch_.empty() && msg.wal_end > confirmed_) confirm(msg.wal_end);
                else if (msg.reply_requested) confirm(confirmed_);
            }
        }
        // The socket is drained: publish the whole transactions gathered so far. Under
        // load batches grow by themselves; when idle a single commit goes out at once.
        publish();
        if (now_ms() - last_feedback_ms_ >= kFeedbackIntervalMs) confirm(confirmed_);
        slot_.wait_readable(kFeedbackIntervalMs);
    }
}

void Replicator::run() {
    // Catalog lookups need a transaction; do them once, up front.
    pg_call([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
    });
    conninfo_ = replication_conninfo();
    pg_call([&] { CommitTransactionCommand(); });

    long backoff = kMinBackoffMs;
    for (;;) {
        try {
            session();
        } catch (const TransientError &e) {
            slot_.close();
            redis_.disconnect();
            note_failure(e.what());
        }
        wait_for_socket(-1, 0, backoff);
        maybe_reload();
        backoff = last_failure_.empty() ? kMinBackoffMs : std::min(backoff * 2, kMaxBackoffMs);
    }
}

}  // namespace
}  // namespace livesync::extension::worker

void livesync_replicator_main(Datum) {
    using namespace livesync::extension;
    using namespace livesync::extension::worker;
    pqsignal(SIGTERM, handle_sigterm);
    pqsignal(SIGHUP, handle_sighup);
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(settings.database, nullptr, 0);
    pg_atomic_write_u32(&worker_state()->pid, static_cast<uint32>(MyProcPid));
    ereport(LOG, (errmsg("livesync replicator started (database \"%s\", slot \"%s\")", settings.database,
                         settings.slot_name)));
    bool clean = guard_cpp("replicator", [] {
        try {
            Replicator replicator;
            replicator.run();
        } catch (const ShutdownRequested &) {
            return true;
        }
        return true;
    });
    pg_atomic_write_u32(&worker_state()->pid, 0);
    pg_atomic_write_u32(&worker_state()->redis_connected, 0);
    pg_atomic_write_u32(&worker_state()->slot_connected, 0);
    if (clean) ereport(LOG, (errmsg("livesync replicator stopped")));
    proc_exit(0);
}
