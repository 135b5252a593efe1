#include "sidecar/stream/stream_reader.hpp"

#include "common/redis_keys.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/stream/continuity.hpp"
#include "sidecar/stream/stream_entry.hpp"

namespace livesync::stream {

namespace {

std::string str_of(const redisReply *r) { return std::string(r->str, r->len); }

}  // namespace

StreamReader::StreamReader(ReaderConfig config, EventQueue &queue, std::function<void()> wake,
                           ops::Counters &counters)
    : config_(std::move(config)), stream_key_(common::RedisKeys(config_.prefix).changes()),
      config_key_(common::RedisKeys(config_.prefix).tables()), rules_key_(common::RedisKeys(config_.prefix).rules()),
      history_key_(common::RedisKeys(config_.prefix).config_history()),
      trimmed_key_(common::RedisKeys(config_.prefix).trimmed_lsn()),
      queue_(queue), wake_(std::move(wake)), counters_(counters),
      sizer_(config_.read_bytes, static_cast<size_t>(config_.count)),
      worker_(redis::WorkerOptions("stream_reader", config_.url,
                                   // Outlasts XREAD's BLOCK, or every idle read would fail.
                                   std::chrono::milliseconds(config_.block_ms + 3000),
                                   [this](redis::Connection &conn, std::string *error) {
                                       if (!snapshot(conn, error)) return false;
                                       counters_.stream_connected.store(true);
                                       return true;
                                   })) {}

StreamReader::~StreamReader() { stop(); }

void StreamReader::start() { worker_.start([this] { run(); }); }

void StreamReader::stop() {
    queue_.close();
    worker_.stop();
}

void StreamReader::deliver(StreamEvent event) {
    if (queue_.push(std::move(event))) wake_();
}

void StreamReader::run() {
    worker_.run_reader([this](redis::Connection &conn, std::string *error) {
        if (read_once(conn, error)) return true;
        counters_.stream_connected.store(false);
        return false;
    });
}

bool StreamReader::snapshot(redis::Connection &conn, std::string *error) {
    const common::StreamId position = last_id_.value_or(common::StreamId{0, 0});
    redis::Reply exec_reply = conn.transaction({{"HGETALL", config_key_},
                                                {"XREVRANGE", stream_key_, "+", "-", "COUNT", "1"},
                                                {"HGETALL", rules_key_},
                                                {"GET", trimmed_key_},
                                                {"XREVRANGE", stream_key_, common::format_stream_id(position), "-",
                                                 "COUNT", "1"},
                                                {"XRANGE", history_key_, "-", "+"}},
                                               error);
    if (!exec_reply) return false;
    const redisReply *exec = exec_reply.get();

    const redisReply *config = exec->element[0];
    StreamView view = read_stream_view(exec->element[3], exec->element[4], exec->element[1]);

    // After a reconnect (or a gap found while reading), carry on from the last entry
    // handed over when the stream still holds everything after it: the config changes
    // in between arrive in order.
    if (last_id_ && live_continuity(*last_id_, view, trimmed_at_snapshot_)) {
        ops::info("stream resumed", {{"after", common::format_stream_id(*last_id_)}});
        behind_since_.reset();
        return true;
    }
    if (last_id_ && stream_behind(*last_id_, view)) {
        if (wait_while_behind()) return true;
    }

    StreamReset reset;
    reset.gap_after = last_id_;
    if (config->type == REDIS_REPLY_ARRAY) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (size_t i = 0; i + 1 < config->elements; i += 2)
            fields.emplace_back(str_of(config->element[i]), str_of(config->element[i + 1]));
        std::string config_error;
        auto tables = rules::PublishedTables::from_hash(fields, &config_error);
        if (tables) {
            reset.tables = std::move(*tables);
        } else {
            ops::error("bad config key: no table is published until it is fixed",
                       {{"key", config_key_}, {"error", config_error}});
        }
    }
    if (const redisReply *rules = exec->element[2]; rules->type == REDIS_REPLY_ARRAY) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (size_t i = 0; i + 1 < rules->elements; i += 2)
            fields.emplace_back(str_of(rules->element[i]), str_of(rules->element[i + 1]));
        std::vector<std::string> rule_errors;
        reset.rules = rules::RuleSet::from_hash(fields, &rule_errors);
        for (const std::string &e : rule_errors)
            ops::error("bad access rule: it denies until it is fixed", {{"key", rules_key_}, {"error", e}});
    }
    read_history(exec->element[5], reset.history);
    reset.tail = view.tail.value_or(common::StreamId{0, 0});
    last_id_ = reset.tail;
    handed_final_ = false;  // not known: a stream that falls behind from here is a gap
    drop_through_lsn_.reset();
    behind_since_.reset();
    trimmed_at_snapshot_ = view.trimmed_lsn;
    ops::info("stream snapshot",
              {{"tail", common::format_stream_id(reset.tail)},
               {"published_tables", static_cast<uint64_t>(reset.tables.size())},
               {"access_rules", static_cast<uint64_t>(reset.rules.size())},
               {"config_versions", static_cast<uint64_t>(reset.history.size())}});
    deliver(std::move(reset));
    return true;
}

void StreamReader::read_history(const redisReply *reply,
                                std::vector<std::pair<common::StreamId, rules::ConfigVersion>> &out) const {
    if (reply->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i < reply->elements; ++i) {
        const redisReply *entry = reply->element[i];
        std::optional<common::StreamId> id = stream_entry_id(entry);
        if (!id || entry->elements != 2 || entry->element[1]->type != REDIS_REPLY_ARRAY) continue;
        const redisReply *kv = entry->element[1];
        std::vector<std::pair<std::string, std::string>> fields;
        for (size_t f = 0; f + 1 < kv->elements; f += 2) fields.emplace_back(str_of(kv->element[f]), str_of(kv->element[f + 1]));
        std::string error;
        std::vector<std::string> rule_errors;
        auto version = rules::parse_config_version(fields, &error, &rule_errors);
        if (!version) {
            // Not a guess either way: positions it would have covered have no version
            // (resync_required) once an older one is found, or it is skipped when it is
            // the oldest.
            ops::error("bad config version: dropped with every older one",
                       {{"key", history_key_}, {"id", common::format_stream_id(*id)}, {"error", error}});
            out.clear();
            continue;
        }
        for (const std::string &e : rule_errors)
            ops::error("bad access rule in a config version: it denies",
                       {{"key", history_key_}, {"id", common::format_stream_id(*id)}, {"error", e}});
        out.emplace_back(*id, std::move(*version));
    }
}

bool StreamReader::read_once(redis::Connection &conn, std::string *error) {
    const std::string after = common::format_stream_id(*last_id_);
    // One round trip per read, whether entries are waiting or not. In one MULTI/EXEC: the
    // proof that the stream still holds everything after last_id_ and a non-blocking
    // XREAD of what follows it, so what that returns follows last_id_ with nothing
    // trimmed in between. In the same write, so Redis runs it right after the EXEC (it
    // runs a client's pipelined commands back to back): an XREAD BLOCK for the first
    // entry after last_id_. It waits only when the transaction found nothing, and is then
    // woken by the next XADD -- the replicator's trim runs in the same MULTI/EXEC as its
    // XADD and keeps the newest entry -- so what it returns follows last_id_ directly
    // too. When the transaction did find entries it returns at once with the first of
    // them again, dropped by hand_over: at most one entry read twice per read, instead of
    // a second round trip for every wait.
    const std::vector<std::string> wait{"XREAD", "COUNT", "1", "BLOCK", std::to_string(config_.block_ms),
                                        "STREAMS", stream_key_, after};
    redis::Reply waited;
    redis::Reply exec_reply =
        conn.transaction({{"GET", trimmed_key_},
                          {"XREVRANGE", stream_key_, after, "-", "COUNT", "1"},
                          {"XREVRANGE", stream_key_, "+", "-", "COUNT", "1"},
                          {"XREAD", "COUNT", std::to_string(sizer_.count()), "STREAMS", stream_key_, after}},
                         wait, &waited, error);
    if (!exec_reply) return false;
    if (redis::is_error_reply(waited.get(), error)) return false;
    const redisReply *exec = exec_reply.get();
    // No proof can also be no gap: after a quiet period longer than the age bound, the
    // next XADD's trim removes last_id_ and everything before it; if that XADD lands
    // between a timed-out wait and this read, nothing shows whether an entry lay between
    // the two, and the sessions are told resync_required once too often -- never
    // silently too few.
    StreamView view = read_stream_view(exec->element[0], exec->element[1], exec->element[2]);
    if (!live_continuity(*last_id_, view, trimmed_at_snapshot_)) {
        // The BLOCK above waited for an entry after last_id_: no busy loop while behind.
        if (stream_behind(*last_id_, view) && wait_while_behind()) return true;
        return snapshot(conn, error);
    }
    if (behind_since_) {
        ops::info("stream caught up with what was read before", {{"after", common::format_stream_id(*last_id_)}});
        behind_since_.reset();
    }
    if (exec->element[3]->type != REDIS_REPLY_NIL && !hand_over(exec->element[3], error)) return false;
    if (waited->type == REDIS_REPLY_NIL) return true;  // BLOCK timed out
    return hand_over(waited.get(), error);
}

bool StreamReader::wait_while_behind() {
    auto now = std::chrono::steady_clock::now();
    if (!behind_since_) {
        // In the middle of a split transaction the parts published again may be cut
        // elsewhere: which of their changes were handed over is not known. A gap, then.
        if (!handed_final_) return false;
        behind_since_ = now;
        drop_through_lsn_ = last_id_->lsn;
        counters_.stream_behind.fetch_add(1);
        ops::warn("stream behind what was read (Redis lost its newest entries: a failover?); waiting for the "
                  "replicator to publish them again",
                  {{"after", common::format_stream_id(*last_id_)}});
        return true;
    }
    if (now - *behind_since_ < kBehindPatience) return true;
    ops::warn("stream still behind what was read: starting over from its tail",
              {{"after", common::format_stream_id(*last_id_)},
               {"waited_s", static_cast<uint64_t>(kBehindPatience.count())}});
    behind_since_.reset();
    return false;
}

bool StreamReader::hand_over(const redisReply *reply, std::string *error) {
    // [[key, [[id, [field, value, ...]], ...]]]
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        *error = "unexpected XREAD reply";
        return false;
    }
    const redisReply *entries = reply->element[0]->element[1];
    sizer_.observe(entries);
    auto received_at = std::chrono::steady_clock::now();
    for (size_t i = 0; i < entries->elements && !worker_.stopping(); ++i) {
        // Handed over already: the wait after a read that found entries repeats the first.
        if (auto id = stream_entry_id(entries->element[i]); id && *id <= *last_id_) continue;
        StreamBatch entry;
        std::string id_text, entry_error;
        EntryResult result = read_stream_entry(entries->element[i], entry, &id_text, &entry_error);
        if (result == EntryResult::BadShape) {
            *error = entry_error;
            return false;
        }
        last_id_ = entry.id;
        counters_.stream_entries.fetch_add(1);
        if (result == EntryResult::BadBatch) {
            counters_.bad_stream_entries.fetch_add(1);
            ops::error("bad stream entry skipped", {{"id", id_text}, {"error", entry_error}});
            handed_final_ = false;
            continue;
        }
        if (drop_through_lsn_) {
            // Published again after the stream fell behind: what was handed over already
            // goes no further.
            drop_through(entry.batch, *drop_through_lsn_);
            if (entry.batch.transactions.empty()) continue;
            drop_through_lsn_.reset();
        }
        handed_final_ = entry.batch.transactions.empty() || entry.batch.transactions.back().final;
        entry.received_at = received_at;
        counters_.stream_entries_handed.fetch_add(1);
        deliver(std::move(entry));
    }
    return true;
}

}  // namespace livesync::stream
