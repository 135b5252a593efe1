#include "sidecar/stream/replay_reader.hpp"

#include "common/redis_keys.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/stream/stream_entry.hpp"

namespace livesync::stream {

namespace {

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
      deliver_(std::move(deliver)), counters_(counters), sizer_(config_.page_bytes, config_.page_entries),
      worker_(redis::WorkerOptions("replay_reader", config_.url),
              redis::BoundedInbox<ReplayRequest>(config_.max_pending)) {}

ReplayReader::~ReplayReader() { stop(); }

void ReplayReader::start() { worker_.start([this] { run(); }); }

void ReplayReader::stop() { worker_.stop(); }

void ReplayReader::request(ReplayRequest request) {
    if (worker_.post(request)) return;
    ReplayPage page;
    page.session_serial = request.session_serial;
    page.after = request.after;
    page.outcome = ReplayPage::Outcome::Failed;
    page.error = "too many resumes in progress";
    deliver_(std::move(page));
}

void ReplayReader::run() {
    for (;;) {
        // One at a time: the others keep their places in the bounded inbox.
        auto work = worker_.wait_for_work(redis::Clock::time_point::max(), 1);
        if (work.stopping) return;
        for (const ReplayRequest &request : work.items) deliver_(read_page(request));
    }
}

ReplayPage ReplayReader::read_page(const ReplayRequest &request) {
    auto give_up = redis::Clock::now() + kGiveUpAfter;
    ReplayPage page;
    page.session_serial = request.session_serial;
    page.after = request.after;
    std::string error;
    for (;;) {
        // A new request tries at once, whatever the backoff of the one before.
        if (redis::Connection *conn = worker_.connection(redis::RedisWorker::Attempt::Now); conn) {
            page.entries.clear();
            if (query(*conn, request, page, &error)) return page;
            worker_.lost(error);
        } else {
            error = worker_.last_error();
        }
        if (redis::Clock::now() >= give_up || !worker_.pause_until(worker_.next_attempt())) break;
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
