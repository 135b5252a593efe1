// The replicator: reads the slot, groups whole transactions into batches, XADDs each
// batch to the Redis stream under an ID derived from its last commit LSN, and only then
// confirms the slot. On any failure it starts over from the slot's confirmed position
// and skips what Redis already holds, so nothing is lost and nothing is doubled.
#include "extension/livesync.hpp"
#include "extension/pg_guard.hpp"
#include "published_config.hpp"
#include "redis_link.hpp"
#include "registry_sweep.hpp"
#include "slot_stream.hpp"
#include "stream_retention.hpp"
#include "worker_wait.hpp"

#include "common/batch_writer.hpp"
#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_authid_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/standby.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"
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

// The transaction being decoded: where it stands against what Redis already holds.
struct OpenTxn {
    bool open = false;
    uint64_t lsn = 0;
    uint32_t xid = 0;
    int64_t commit_unix_usec = 0;
    uint32_t part = 0;        // the part its next changes go into
    uint64_t seen = 0;        // changes decoded so far, skipped ones included
    uint64_t skip = 0;        // its first `skip` changes are already in Redis
    bool skip_all = false;    // the whole transaction is already in Redis
    bool in_batch = false;    // its current part is open in the batch writer
};

class Replicator {
public:
    void run();

private:
    void session();
    void connect_redis();
    void read_stream_tail();
    void handle_data(std::string_view payload);
    void begin_txn(std::string_view body);
    void add_change(char tag, std::string_view body);
    void commit_txn();
    void publish();
    void start_publish();
    void complete_publish(bool block);
    void finish_publish(const std::vector<Reply> &replies);
    void maybe_sweep();
    void confirm(XLogRecPtr position);
    void wait_for_replicas();
    void maybe_reload();
    void note_failure(const std::string &message);
    void note_recovered();
    void end_session();

    common::RedisKeys keys() const { return common::RedisKeys(settings.redis_prefix); }

    RedisLink redis_;
    SlotStream slot_;
    common::BatchWriter batch_;
    PublishedConfig config_;
    StreamRetention retention_;
    std::string conninfo_;
    // What one turn of the session loop pallocs (a reload, a log line's formatting):
    // reset at the top of every turn, as pg_cron's scheduler loop does.
    MemoryContext loop_context_ = nullptr;
    bool retention_failed_ = false;  // the trim script's error was logged
    // Redis may hold writes its replicas have not acknowledged (livesync.redis_min_replicas):
    // true after every XADD, and at session start for what an earlier session wrote.
    bool unreplicated_ = true;

    common::StreamId stream_tail_{};  // newest entry ID in Redis
    // When the newest entry ends with a non-final part: how many of that transaction's
    // changes Redis holds (its field changes_through). Resuming counts changes, so the
    // split points of the replay need not match the ones before the restart.
    std::optional<uint64_t> tail_through_;
    OpenTxn txn_;
    // The batch sent to Redis whose reply has not arrived yet. Publishing is pipelined:
    // the slot is drained into the next batch meanwhile, so the walsender never waits
    // for a Redis round trip (and its fsync). At most one is in flight.
    struct InFlight {
        bool active = false;
        size_t reply_count = 0;
        std::vector<Reply> replies;
        bool multi = false, with_trim = false, final = false;
        common::StreamId id;
        std::optional<uint64_t> through;
        uint32_t changes = 0;
        size_t bytes = 0;
        bool config_emptied = false;
    } inflight_;
    XLogRecPtr confirmed_ = InvalidXLogRecPtr;
    int64_t last_feedback_ms_ = 0;
    int64_t batch_first_ms_ = 0;  // when the unpublished batch first held a whole transaction
    int64_t next_sweep_ms_ = 0;
    bool failing_ = false;      // logged as down; the next success logs "up" once
    std::string last_failure_;    // the reason of the latest failure
    std::string logged_failure_;  // the reason last logged at WARNING
};

// One log line per state change: the first failure after streaming (WARNING), and the
// return to streaming (LOG). Retries in between log at DEBUG1, except that a reason
// other than the one logged that repeats on two retries in a row is logged (WARNING)
// once: the first failure is often only "connection closed", and the lasting cause
// (a wrong password, say) must reach the log without a line per retry.
void Replicator::note_failure(const std::string &message) {
    pg_atomic_write_u32(&worker_state()->redis_connected, redis_.connected() ? 1 : 0);
    pg_atomic_write_u32(&worker_state()->slot_connected, 0);
    if (failing_) {
        bool repeated = message == last_failure_;
        last_failure_ = message;
        if (!repeated || message == logged_failure_) {
            if (!repeated) ereport(DEBUG1, (errmsg("livesync replicator: still not streaming: %s", message.c_str())));
            return;
        }
        logged_failure_ = message;
        ereport(WARNING, (errmsg("livesync replicator: still not streaming: %s", message.c_str()),
                          errdetail("Retrying with backoff; the slot stays at %s until Redis has the changes.",
                                    common::format_lsn(confirmed_).c_str())));
        return;
    }
    failing_ = true;
    last_failure_ = message;
    logged_failure_ = message;
    ereport(WARNING, (errmsg("livesync replicator: %s", message.c_str()),
                      errdetail("Retrying with backoff; the slot stays at %s until Redis has the changes.",
                                common::format_lsn(confirmed_).c_str())));
}

void Replicator::note_recovered() {
    if (failing_)
        ereport(LOG, (errmsg("livesync replicator: streaming again (slot \"%s\" to Redis)", settings.slot_name)));
    failing_ = false;
    last_failure_.clear();
    logged_failure_.clear();
}

void Replicator::maybe_reload() {
    if (!reload_requested) return;
    reload_requested = 0;
    pg_call([] { ProcessConfigFile(PGC_SIGHUP); });
}

void Replicator::connect_redis() {
    redis_.connect(configured_redis_url(), settings.redis_timeout_ms);
    pg_atomic_write_u32(&worker_state()->redis_connected, 1);
}

void Replicator::read_stream_tail() {
    std::string stream = keys().changes();
    Reply r = redis_.command({"XREVRANGE", stream, "+", "-", "COUNT", "1"});
    if (r->type == REDIS_REPLY_ERROR) throw TransientError("XREVRANGE failed: " + std::string(r->str, r->len));
    stream_tail_ = {};
    tail_through_.reset();
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return;
    redisReply *entry = r->element[0];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 || entry->element[0]->type != REDIS_REPLY_STRING)
        throw TransientError("the newest entry of " + stream + " is malformed");
    auto id = common::parse_stream_id(std::string_view(entry->element[0]->str, entry->element[0]->len));
    if (!id) throw TransientError("the newest entry of " + stream + " has an ID livesync did not write");
    stream_tail_ = *id;
    const redisReply *fields = entry->element[1];
    for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2) {
        std::string_view name(fields->element[i]->str, fields->element[i]->len);
        if (name != "changes_through") continue;
        std::string value(fields->element[i + 1]->str, fields->element[i + 1]->len);
        char *end = nullptr;
        unsigned long long n = strtoull(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0')
            throw TransientError("the newest entry of " + stream + " has a malformed changes_through");
        tail_through_ = n;
    }
}

void Replicator::confirm(XLogRecPtr position) {
    if (position > confirmed_) {
        if (unreplicated_ && settings.redis_min_replicas > 0) wait_for_replicas();
        confirmed_ = position;
    }
    slot_.confirm(confirmed_);
    last_feedback_ms_ = now_ms();
    pg_atomic_write_u64(&worker_state()->confirmed_lsn, confirmed_);
}

// WAIT until livesync.redis_min_replicas replicas have every write of this connection so
// far; a failover to one of them then cannot lose what the slot moved past. While the
// replicas lag, the slot stays put (the walsender still gets feedback) and one WARNING
// says so; the return to normal is logged once too.
void Replicator::wait_for_replicas() {
    bool logged = false;
    for (;;) {
        std::string wanted = std::to_string(settings.redis_min_replicas);
        std::string timeout = std::to_string(std::max(100, settings.redis_timeout_ms / 2));
        Reply r = redis_.command({"WAIT", wanted, timeout});
        if (r->type != REDIS_REPLY_INTEGER)
            throw TransientError("WAIT failed: " + (r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                                                 : std::string("unexpected reply")));
        if (r->integer >= settings.redis_min_replicas) break;
        if (!logged)
            ereport(WARNING, (errmsg("livesync replicator: only %lld of %d Redis replicas acknowledged the stream",
                                     static_cast<long long>(r->integer), settings.redis_min_replicas),
                              errdetail("The slot stays at %s until livesync.redis_min_replicas replicas have it.",
                                        common::format_lsn(confirmed_).c_str())));
        logged = true;
        slot_.confirm(confirmed_);  // keeps the walsender from timing us out
        maybe_reload();
        if (settings.redis_min_replicas <= 0) break;
    }
    if (logged) ereport(LOG, (errmsg("livesync replicator: Redis replicas caught up")));
    unreplicated_ = false;
}

void Replicator::handle_data(std::string_view payload) {
    if (payload.empty()) throw TransientError("empty message from the output plugin");
    char tag = payload[0];
    std::string_view body = payload.substr(1);
    switch (tag) {
        case common::kTagBegin: begin_txn(body); break;
        case common::kTagChange:
        case common::kTagConfig: add_change(tag, body); break;
        case common::kTagChanges:
            while (!body.empty()) {
                if (body.size() < 4) throw TransientError("truncated change chunk from the output plugin");
                const auto *p = reinterpret_cast<const unsigned char *>(body.data());
                size_t len = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
                if (len == 0 || len > body.size() - 4) throw TransientError("malformed change chunk from the output plugin");
                add_change(common::kTagChange, body.substr(4, len));
                body.remove_prefix(4 + len);
            }
            break;
        case common::kTagCommit: commit_txn(); break;
        default: throw TransientError(std::string("unknown message tag '") + tag + "' from the output plugin");
    }
}

void Replicator::begin_txn(std::string_view body) {
    auto begin = decode_begin(body);
    if (!begin) throw TransientError("malformed begin message from the output plugin");
    if (txn_.open) throw TransientError("begin inside a transaction from the output plugin");
    txn_ = OpenTxn{};
    txn_.open = true;
    txn_.lsn = begin->lsn;
    txn_.xid = begin->xid;
    txn_.commit_unix_usec = begin->commit_unix_usec;
    // Already in Redis from before a restart: its commit LSN is below the tail, or it is
    // the tail's transaction and the tail holds its final part. When the tail holds only
    // its first parts, the replay skips the changes those parts hold and goes on with
    // the next part number.
    if (begin->lsn < stream_tail_.lsn || (begin->lsn == stream_tail_.lsn && !tail_through_)) {
        txn_.skip_all = true;
    } else if (begin->lsn == stream_tail_.lsn) {
        txn_.skip = *tail_through_;
        txn_.part = static_cast<uint32_t>(stream_tail_.seq + 1);
    }
    pg_atomic_write_u64(&worker_state()->last_commit_time,
                        static_cast<uint64_t>(begin->commit_unix_usec - common::pg_timestamp_to_unix_usec(0)));
}

void Replicator::add_change(char tag, std::string_view body) {
    if (!txn_.open) throw TransientError("change outside a transaction from the output plugin");
    if (txn_.skip_all) return;
    if (++txn_.seen <= txn_.skip) return;
    if (!txn_.in_batch) {
        batch_.begin_txn(txn_.lsn, txn_.xid, txn_.commit_unix_usec, txn_.part);
        txn_.in_batch = true;
    } else if (batch_.txn_change_count() > 0 &&
               batch_.size() + body.size() > static_cast<size_t>(settings.batch_max_bytes)) {
        // Split here: the part so far goes out as <lsn>-<part>, the rest follows. A part
        // holds at least one change, so a batch exceeds batch_max_bytes by at most one
        // change.
        config_.end_part(common::StreamId{txn_.lsn, txn_.part});
        batch_.end_txn(false);
        publish();
        batch_.begin_txn(txn_.lsn, txn_.xid, txn_.commit_unix_usec, ++txn_.part);
    }
    batch_.add_change(body);
    if (tag == common::kTagConfig) config_.apply(body);
}

void Replicator::commit_txn() {
    if (!txn_.open) throw TransientError("commit outside a transaction from the output plugin");
    bool skipped = txn_.skip_all;
    if (!skipped) {
        // Every change was in Redis already but the final flag was not: an empty final part.
        if (!txn_.in_batch) batch_.begin_txn(txn_.lsn, txn_.xid, txn_.commit_unix_usec, txn_.part);
        config_.end_part(common::StreamId{txn_.lsn, txn_.part});
        batch_.end_txn(true);
    }
    txn_ = OpenTxn{};
    if (!skipped && batch_.size() >= static_cast<size_t>(settings.batch_max_bytes)) publish();
}

void Replicator::publish() {
    if (batch_.txn_count() == 0 || batch_.in_txn()) return;
    // Bounded memory: a second batch waits for the first one's reply before it goes.
    if (inflight_.active) complete_publish(true);
    start_publish();
}

void Replicator::start_publish() {
    std::string stream = keys().changes();
    common::StreamId id{batch_.last_lsn(), batch_.last_part()};
    std::string id_text = common::format_stream_id(id);
    bool final = batch_.last_final();
    std::string through = final ? std::string() : std::to_string(txn_.seen - 1);
    std::string_view bytes = batch_.bytes();
    // `time` (the replicator's clock, Unix ms) is what livesync.stream_max_age trims by.
    int64_t now_unix_ms = common::pg_timestamp_to_unix_usec(GetCurrentTimestamp()) / 1000;
    std::string written_at = std::to_string(now_unix_ms);
    std::vector<Command> commands;
    bool with_config = config_.dirty();
    bool with_trim = retention_.configure(settings.stream_max_entries, settings.stream_max_age_s, now_unix_ms);
    bool multi = with_config || with_trim;
    std::string marker = keys().trimmed_lsn();
    if (multi) commands.push_back({"MULTI"});
    if (final) commands.push_back({"XADD", stream, id_text, "batch", bytes, "time", written_at});
    else
        commands.push_back({"XADD", stream, id_text, "batch", bytes, "time", written_at, "changes_through", through});
    if (with_config) config_.append_commands(settings.redis_prefix, commands);
    if (with_trim) retention_.append_command(stream, marker, commands);
    if (multi) commands.push_back({"EXEC"});
    redis_.send(commands);  // hiredis holds its own copy of the commands from here

    inflight_ = InFlight{};
    inflight_.active = true;
    inflight_.reply_count = commands.size();
    inflight_.multi = multi;
    inflight_.with_trim = with_trim;
    inflight_.final = final;
    inflight_.id = id;
    if (!final) inflight_.through = txn_.seen - 1;
    inflight_.changes = batch_.change_count();
    inflight_.bytes = bytes.size();
    inflight_.config_emptied = config_.take_emptied();
    batch_.clear();
    batch_first_ms_ = 0;
    config_.clear_pending();
}

// Takes the in-flight batch's replies if they are in (block: wait for them).
void Replicator::complete_publish(bool block) {
    if (!inflight_.active) return;
    size_t missing = inflight_.reply_count - inflight_.replies.size();
    if (block) {
        for (Reply &r : redis_.receive(missing)) inflight_.replies.push_back(std::move(r));
    } else if (!redis_.poll(inflight_.reply_count, inflight_.replies)) {
        return;
    }
    std::vector<Reply> replies = std::move(inflight_.replies);
    finish_publish(replies);
}

void Replicator::finish_publish(const std::vector<Reply> &replies) {
    std::string stream = keys().changes();
    std::string id_text = common::format_stream_id(inflight_.id);
    const redisReply *exec = inflight_.multi ? replies.back().get() : nullptr;
    const redisReply *result = inflight_.multi ? exec : replies.back().get();
    if (inflight_.multi && exec->type == REDIS_REPLY_ARRAY && exec->elements > 0) result = exec->element[0];
    if (result->type != REDIS_REPLY_STRING)
        throw TransientError("XADD " + id_text + " failed: " +
                             (result->type == REDIS_REPLY_ERROR ? std::string(result->str, result->len)
                                                                : std::string("transaction aborted")));
    if (inflight_.with_trim && exec->type == REDIS_REPLY_ARRAY) {
        // The batch is in; a failed trim only means the stream keeps more than asked.
        const redisReply *trim = exec->element[exec->elements - 1];
        if (trim->type == REDIS_REPLY_ERROR && !retention_failed_)
            ereport(WARNING, (errmsg("livesync replicator: trimming %s failed: %.*s", stream.c_str(),
                                     static_cast<int>(trim->len), trim->str)));
        retention_failed_ = trim->type == REDIS_REPLY_ERROR;
    }
    unreplicated_ = true;
    WorkerState *st = worker_state();
    stream_tail_ = inflight_.id;
    tail_through_ = inflight_.through;
    pg_atomic_fetch_add_u64(&st->batches_published, 1);
    pg_atomic_fetch_add_u64(&st->changes_published, inflight_.changes);
    pg_atomic_fetch_add_u64(&st->bytes_published, inflight_.bytes);
    InFlight done = std::move(inflight_);
    inflight_ = InFlight{};
    if (!done.final) return;
    // Redis acknowledged the final part: only now may the slot move past this commit.
    pg_atomic_write_u64(&st->published_lsn, done.id.lsn);
    confirm(done.id.lsn);
    if (done.config_emptied) {
        // The config tables were emptied, maybe dropped (DROP EXTENSION): decoding must
        // not restart from before that, because Postgres cannot decode a change of a
        // user catalog table that no longer exists ("could not find pg_class entry").
        // A running-xacts record now lets the slot's restart_lsn pass it at the next
        // confirmation instead of within the bgwriter's 15 s.
        pg_call([] { LogStandbySnapshot(); });
    }
}

void Replicator::session() {
    batch_.clear();
    config_.clear_pending();
    txn_ = OpenTxn{};
    inflight_ = InFlight{};
    unreplicated_ = true;

    const char *plugins = GetConfigOption("output_plugin_libraries", true, false);
    if (plugins != nullptr && !PublishedConfig::list_has(plugins, "livesync"))
        throw TransientError(std::string("output_plugin_libraries ('") + plugins +
                             "') does not name livesync, so Postgres will not load the livesync output plugin; "
                             "add livesync to output_plugin_libraries in postgresql.conf and reload");

    connect_redis();
    read_stream_tail();
    config_.seed_if_missing(redis_, settings.redis_prefix);
    config_.load(redis_, settings.redis_prefix, stream_tail_);
    slot_.open(conninfo_, settings.slot_name);
    pg_atomic_write_u32(&worker_state()->slot_connected, 1);
    note_recovered();
    TwoSocketWaiter waiter(slot_.socket(), redis_.socket());

    for (;;) {
        // One turn: this turn's palloc'd memory in a fresh context, interrupts served
        // (through pg_call: a Postgres ERROR here unwinds to run() as PgError), a reload.
        MemoryContextSwitchTo(loop_context_);
        MemoryContextReset(loop_context_);
        check_for_interrupts();
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
                if (!txn_.open && batch_.empty() && !inflight_.active && msg.wal_end > confirmed_)
                    confirm(msg.wal_end);
                else if (msg.reply_requested) confirm(confirmed_);
            }
        }
        // The socket is drained: publish the whole transactions gathered so far, unless
        // a batch is still on its way (then they go when its reply is in). Under load
        // batches grow by themselves; when idle a single commit goes out at once.
        // (Inside a transaction they wait for its commit or its next split.)
        complete_publish(false);
        if (batch_.txn_count() == 0) batch_first_ms_ = 0;
        else if (batch_first_ms_ == 0) batch_first_ms_ = now_ms();
        // livesync.batch_max_delay: a batch may linger for more transactions to join it.
        long linger_ms = batch_first_ms_ == 0 ? 0 : batch_first_ms_ + settings.batch_max_delay_ms - now_ms();
        if (!inflight_.active && !txn_.open && linger_ms <= 0) publish();
        if (now_ms() - last_feedback_ms_ >= kFeedbackIntervalMs) confirm(confirmed_);
        if (!inflight_.active) maybe_sweep();
        long wait_ms = kFeedbackIntervalMs;
        if (settings.sweep_interval_s > 0)
            wait_ms = std::max(0L, std::min(wait_ms, static_cast<long>(next_sweep_ms_ - now_ms())));
        if (inflight_.active) wait_ms = std::min(wait_ms, static_cast<long>(settings.redis_timeout_ms));
        else if (!txn_.open && batch_.txn_count() > 0) wait_ms = std::min(wait_ms, std::max(0L, linger_ms));
        TwoSocketWaiter::Ready ready = waiter.wait(wait_ms);
        if (ready.first) slot_.consume_input();
        if (ready.second && !inflight_.active) {
            // Nothing is expected: this is Redis closing the connection (read it, so
            // the failure surfaces instead of waking this loop forever).
            std::vector<Reply> unexpected;
            redis_.poll(0, unexpected);
        }
    }
}

void Replicator::maybe_sweep() {
    if (settings.sweep_interval_s <= 0 || now_ms() < next_sweep_ms_) return;
    next_sweep_ms_ = now_ms() + settings.sweep_interval_s * 1000L;
    SidecarHttp http;
    http.timeout_ms = settings.redis_timeout_ms;
    http.ca_file = settings.sidecar_ca_file;
    SweepResult r = sweep_registry(redis_, settings.redis_prefix, http);
    if (r.clients_removed > 0 || r.dead_sidecars > 0)
        ereport(LOG, (errmsg("livesync replicator: registry sweep removed %d client entries (%d sidecars checked, "
                             "%d dead, %d did not answer)",
                             r.clients_removed, r.sidecars_checked, r.dead_sidecars, r.sidecars_unreachable)));
}

void Replicator::end_session() {
    slot_.close();
    redis_.disconnect();
}

void Replicator::run() {
    // Catalog lookups need a transaction; do them once, up front. Only plain C data
    // crosses the pg_call (the name is copied out of the transaction's memory).
    const char *superuser = nullptr;
    MemoryContext run_context = nullptr;
    pg_call([&] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        superuser = MemoryContextStrdup(TopMemoryContext, GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false));
        CommitTransactionCommand();
        run_context = CurrentMemoryContext;
        loop_context_ = AllocSetContextCreate(TopMemoryContext, "livesync replicator loop", ALLOCSET_DEFAULT_SIZES);
    });
    conninfo_ = replication_conninfo(superuser);

    long backoff = kMinBackoffMs;
    for (;;) {
        try {
            session();
        } catch (const TransientError &e) {
            end_session();
            note_failure(e.what());
        } catch (const PgError &e) {
            // A Postgres error between transactions (a cancel of the worker, say): this
            // session ends like a broken connection; no transaction stays open.
            MemoryContextSwitchTo(run_context);
            pg_call([] { AbortCurrentTransaction(); });
            end_session();
            note_failure(std::string("interrupted: ") + e.what());
        }
        MemoryContextSwitchTo(run_context);
        MemoryContextReset(loop_context_);
        try {
            wait_for_socket(-1, 0, backoff);
            maybe_reload();
        } catch (const PgError &) {
            // A cancel during the backoff only cuts it short.
        }
        backoff = !failing_ ? kMinBackoffMs : std::min(backoff * 2, kMaxBackoffMs);
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
    // Exit code 1: the postmaster starts the replicator again after bgw_restart_time, so
    // pg_terminate_backend() restarts it rather than stopping streaming for good (at
    // server shutdown nothing is restarted anyway).
    proc_exit(1);
}
