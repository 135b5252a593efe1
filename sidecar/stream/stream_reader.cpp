#include "sidecar/stream/stream_reader.hpp"

#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/stream/stream_entry.hpp"

namespace livesync::stream {

namespace {

constexpr std::chrono::milliseconds kConnectTimeout{2000};

std::string str_of(const redisReply *r) { return std::string(r->str, r->len); }

bool is_string(const redisReply *r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

// The ID of the only entry of an XRANGE/XREVRANGE ... COUNT 1 reply, if any.
std::optional<common::StreamId> single_entry_id(const redisReply *r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) return std::nullopt;
    const redisReply *entry = r->element[0];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 1 || !is_string(entry->element[0]))
        return std::nullopt;
    return common::parse_stream_id(str_of(entry->element[0]));
}

}  // namespace

StreamReader::StreamReader(ReaderConfig config, EventQueue &queue, std::function<void()> wake,
                           ops::Counters &counters)
    : config_(std::move(config)), stream_key_(config_.prefix + "changes"), config_key_(config_.prefix + "tables"),
      rules_key_(config_.prefix + "rules"),
      queue_(queue), wake_(std::move(wake)), counters_(counters) {}

StreamReader::~StreamReader() { stop(); }

void StreamReader::start() { thread_ = std::thread([this] { run(); }); }

void StreamReader::stop() {
    stop_.store(true);
    queue_.close();
    pause_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void StreamReader::pause(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(pause_mutex_);
    pause_cv_.wait_for(lock, d, [&] { return stop_.load(); });
}

void StreamReader::deliver(StreamEvent event) {
    if (queue_.push(std::move(event))) wake_();
}

void StreamReader::run() {
    redis::LinkState link("stream_reader", config_.url.redacted());
    redis::Backoff backoff;
    // The read timeout must outlast XREAD's BLOCK, or every idle read would fail.
    const std::chrono::milliseconds read_timeout(config_.block_ms + 3000);
    while (!stop_.load()) {
        std::string error;
        auto conn = redis::Connection::open(config_.url, kConnectTimeout, read_timeout, &error);
        if (conn && snapshot(*conn, &error)) {
            link.up();
            counters_.stream_connected.store(true);
            backoff.reset();
            while (!stop_.load() && read_once(*conn, &error)) {
            }
            if (stop_.load()) break;
        }
        counters_.stream_connected.store(false);
        link.down(error);
        pause(backoff.next());
    }
}

bool StreamReader::snapshot(redis::Connection &conn, std::string *error) {
    redis::Reply exec_reply = conn.transaction({{"HGETALL", config_key_},
                                                {"XREVRANGE", stream_key_, "+", "-", "COUNT", "1"},
                                                {"XRANGE", stream_key_, "-", "+", "COUNT", "1"},
                                                {"HGETALL", rules_key_}},
                                               error);
    if (!exec_reply) return false;
    const redisReply *exec = exec_reply.get();

    const redisReply *config = exec->element[0];
    auto tail = single_entry_id(exec->element[1]);
    auto head = single_entry_id(exec->element[2]);

    // After a reconnect, carry on from the last entry handed over when the stream still
    // holds everything after it: the config changes in between arrive in order.
    // (0-0: nothing was read yet, so whatever the stream holds now comes after it.)
    const common::StreamId zero{0, 0};
    bool holds_rest = last_id_ && (tail ? (*last_id_ == zero || (head && *head <= *last_id_)) && *last_id_ <= *tail
                                        : *last_id_ == zero);
    if (holds_rest) {
        ops::info("stream resumed", {{"after", common::format_stream_id(*last_id_)}});
        return true;
    }
    if (last_id_) {
        ops::warn("stream gap: entries after the last one read are gone; live sessions may have missed changes",
                  {{"after", common::format_stream_id(*last_id_)},
                   {"tail", tail ? common::format_stream_id(*tail) : std::string("none")}});
    }

    StreamReset reset;
    if (config->type == REDIS_REPLY_ARRAY) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (size_t i = 0; i + 1 < config->elements; i += 2)
            fields.emplace_back(str_of(config->element[i]), str_of(config->element[i + 1]));
        std::string config_error;
        auto tables = PublishedTables::from_hash(fields, &config_error);
        if (tables) {
            reset.tables = std::move(*tables);
        } else {
            ops::error("bad config key: no table is published until it is fixed",
                       {{"key", config_key_}, {"error", config_error}});
        }
    }
    if (const redisReply *rules = exec->element[3]; rules->type == REDIS_REPLY_ARRAY) {
        std::vector<std::pair<std::string, std::string>> fields;
        for (size_t i = 0; i + 1 < rules->elements; i += 2)
            fields.emplace_back(str_of(rules->element[i]), str_of(rules->element[i + 1]));
        std::vector<std::string> rule_errors;
        reset.rules = sidecar::auth::RuleSet::from_hash(fields, &rule_errors);
        for (const std::string &e : rule_errors)
            ops::error("bad access rule: it denies until it is fixed", {{"key", rules_key_}, {"error", e}});
    }
    reset.tail = tail.value_or(common::StreamId{0, 0});
    last_id_ = reset.tail;
    ops::info("stream snapshot",
              {{"tail", common::format_stream_id(reset.tail)},
               {"published_tables", static_cast<uint64_t>(reset.tables.size())},
               {"access_rules", static_cast<uint64_t>(reset.rules.size())}});
    deliver(std::move(reset));
    return true;
}

bool StreamReader::read_once(redis::Connection &conn, std::string *error) {
    auto reply = conn.command({"XREAD", "COUNT", std::to_string(config_.count), "BLOCK",
                               std::to_string(config_.block_ms), "STREAMS", stream_key_,
                               common::format_stream_id(*last_id_)},
                              error);
    if (!reply) return false;
    if (redis::is_error_reply(reply.get(), error)) return false;
    if (reply->type == REDIS_REPLY_NIL) return true;  // BLOCK timed out
    // [[key, [[id, [field, value, ...]], ...]]]
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        *error = "unexpected XREAD reply";
        return false;
    }
    const redisReply *entries = reply->element[0]->element[1];
    auto received_at = std::chrono::steady_clock::now();
    for (size_t i = 0; i < entries->elements && !stop_.load(); ++i) {
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
            continue;
        }
        entry.received_at = received_at;
        counters_.stream_entries_handed.fetch_add(1);
        deliver(std::move(entry));
    }
    return true;
}

}  // namespace livesync::stream
