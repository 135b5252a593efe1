#include "sidecar/stream/replay_reader.hpp"

#include "common/redis_keys.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/stream/stream_entry.hpp"

namespace livesync::stream {

namespace {

constexpr std::chrono::milliseconds kConnectTimeout{2000};
constexpr std::chrono::milliseconds kReadTimeout{5000};
// A page that cannot be read (Redis down) is retried this long before the session is
// told; it then reconnects and resumes later, nothing is skipped.
constexpr std::chrono::milliseconds kGiveUpAfter{10000};

}  // namespace

common::StreamId next_stream_id(common::StreamId id) {
    if (id.seq == UINT64_MAX) return common::StreamId{id.lsn + 1, 0};
    return common::StreamId{id.lsn, id.seq + 1};
}

ReplayReader::ReplayReader(ReplayConfig config, std::function<void(ReplayPage)> deliver, ops::Counters &counters)
    : config_(std::move(config)), stream_key_(common::RedisKeys(config_.prefix).changes()),
      trimmed_key_(common::RedisKeys(config_.prefix).trimmed_lsn()),
      deliver_(std::move(deliver)), counters_(counters), sizer_(config_.page_bytes, config_.page_entries) {}

ReplayReader::~ReplayReader() { stop(); }

void ReplayReader::start() { thread_ = std::thread([this] { run(); }); }

void ReplayReader::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void ReplayReader::request(ReplayRequest request) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (pending_.size() < config_.max_pending && !stop_) {
            pending_.push_back(request);
            wake_.notify_one();
            return;
        }
    }
    ReplayPage page;
    page.session_serial = request.session_serial;
    page.after = request.after;
    page.outcome = ReplayPage::Outcome::Failed;
    page.error = "too many resumes in progress";
    deliver_(std::move(page));
}

void ReplayReader::run() {
    for (;;) {
        ReplayRequest request;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
            if (stop_) return;
            request = pending_.front();
            pending_.pop_front();
        }
        deliver_(read_page(request));
    }
}

ReplayPage ReplayReader::read_page(const ReplayRequest &request) {
    redis::LinkState link("replay_reader", config_.url.redacted());
    redis::Backoff backoff;
    auto give_up = std::chrono::steady_clock::now() + kGiveUpAfter;
    ReplayPage page;
    page.session_serial = request.session_serial;
    page.after = request.after;
    std::string error;
    for (;;) {
        if (!conn_) conn_ = redis::Connection::open(config_.url, kConnectTimeout, kReadTimeout, &error);
        if (conn_) {
            page.entries.clear();
            if (query(*conn_, request, page, &error)) return page;
            conn_.reset();
        }
        link.down(error);
        if (std::chrono::steady_clock::now() >= give_up) break;
        std::unique_lock<std::mutex> lock(mutex_);
        if (wake_.wait_for(lock, backoff.next(), [&] { return stop_; })) break;
    }
    page.entries.clear();
    page.outcome = ReplayPage::Outcome::Failed;
    page.error = error;
    return page;
}

bool ReplayReader::query(redis::Connection &conn, const ReplayRequest &request, ReplayPage &page, std::string *error) {
    std::string after = common::format_stream_id(request.after.seq == kWholeTransaction
                                                     ? common::StreamId{request.after.lsn, UINT64_MAX}
                                                     : request.after);
    redis::Reply exec_reply =
        conn.transaction({{"GET", trimmed_key_},
                          {"XREVRANGE", stream_key_, after, "-", "COUNT", "1"},
                          {"XREVRANGE", stream_key_, "+", "-", "COUNT", "1"},
                          {"XRANGE", stream_key_, common::format_stream_id(next_stream_id(request.after)), "+",
                           "COUNT", std::to_string(sizer_.count())}},
                         error);
    if (!exec_reply) return false;
    const redisReply *exec = exec_reply.get();

    StreamView view = read_stream_view(exec->element[0], exec->element[1], exec->element[2]);
    if (!replay_continuity(request.after, view)) {
        page.outcome = ReplayPage::Outcome::Gap;
        return true;
    }
    const redisReply *entries = exec->element[3];
    if (entries->type != REDIS_REPLY_ARRAY) {
        *error = "unexpected XRANGE reply";
        return false;
    }
    sizer_.observe(entries);
    // A page holds about page_bytes (at least one entry): what follows is read again by
    // the next request, so a session's page never holds much more than that, decoded.
    size_t page_bytes = 0;
    for (size_t i = 0; i < entries->elements; ++i) {
        size_t n = stream_entry_bytes(entries->element[i]);
        if (i > 0 && page_bytes + n > config_.page_bytes) break;
        page_bytes += n;
        StreamBatch entry;
        std::string id_text, entry_error;
        EntryResult result = read_stream_entry(entries->element[i], entry, &id_text, &entry_error, false);
        if (result == EntryResult::BadShape) {
            *error = entry_error;
            return false;
        }
        if (result == EntryResult::BadBatch) {
            // Keep the position moving past it; the live reader logged and counted it.
            entry.batch.transactions.clear();
        }
        page.entries.push_back(std::move(entry));
    }
    counters_.replay_entries.fetch_add(page.entries.size());
    page.outcome = ReplayPage::Outcome::Page;
    return true;
}

}  // namespace livesync::stream
