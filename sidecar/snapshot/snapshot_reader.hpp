// Reads snapshot rows from Postgres through libpq, on threads of its own (the lws thread
// never waits on Postgres). One thread per allowed concurrent snapshot query; each runs
// one query at a time:
//   BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
//   SELECT pg_current_snapshot(), <WAL position>   -- the snapshot, taken here
//   DECLARE c NO SCROLL CURSOR FOR SELECT livesync.encode_row(r) FROM (SELECT <published
//     columns> FROM <table> [WHERE <tenant column>::text = $1]) r
//   FETCH <n> FROM c ...  -- one page per more(), so the client's pace drives the reads
// Rows arrive as the output plugin's msgpack maps (livesync.encode_row), so they carry
// the same typed values an insert would. A query whose job is cancelled (every client
// left) is cancelled in Postgres (PQcancel) and its transaction rolled back.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace livesync::snapshot {

struct SnapshotQuery {
    uint64_t job = 0;
    std::string schema;
    std::string table;
    std::optional<std::vector<std::string>> columns;  // the published columns; nullopt: all
    // Rows of other tenants never leave Postgres: WHERE <tenant_column>::text = tenant.
    // (The sidecar still checks every row the way it checks a change.)
    std::optional<std::string> tenant_column;
    std::optional<std::string> tenant;
};

// The SQL of a snapshot query ($1: the tenant, when tenant_column is set). Exposed for tests.
std::string snapshot_sql(const SnapshotQuery &query);

struct SnapshotEvent {
    enum class Kind { Started, Rows, End, Failed };
    uint64_t job = 0;
    Kind kind = Kind::Rows;
    std::string snapshot_text;   // Started: pg_current_snapshot()
    uint64_t wal_bound = 0;      // Started
    std::vector<std::string> rows;  // Rows: encode_row() bytes, in order
    std::string error;           // Failed: what Postgres said
};

// Where the coordinator sends queries (SnapshotReader; unit tests use a fake).
class SnapshotQueries {
public:
    virtual ~SnapshotQueries() = default;
    // Thread-safe. The caller keeps at most max_queries() jobs submitted and not finished.
    virtual void submit(SnapshotQuery query) = 0;
    // Thread-safe: the job may read its next page (after each Rows event).
    virtual void more(uint64_t job) = 0;
    // Thread-safe: stop the job (its query is cancelled); no more events for it.
    virtual void cancel(uint64_t job) = 0;
    virtual size_t max_queries() const = 0;
};

struct SnapshotReaderConfig {
    std::string conninfo;
    size_t max_queries = 4;        // threads: snapshot queries running at once
    size_t page_rows = 5000;       // rows per FETCH
};

class SnapshotReader final : public SnapshotQueries {
public:
    // deliver: called on a reader thread with each event (queue it, wake the lws thread).
    SnapshotReader(SnapshotReaderConfig config, std::function<void(SnapshotEvent)> deliver);
    ~SnapshotReader();
    SnapshotReader(const SnapshotReader &) = delete;
    SnapshotReader &operator=(const SnapshotReader &) = delete;

    void start();
    void stop();
    void submit(SnapshotQuery query) override;
    void more(uint64_t job) override;
    void cancel(uint64_t job) override;
    size_t max_queries() const override { return config_.max_queries; }

private:
    struct Job {
        SnapshotQuery query;
        size_t credit = 2;      // pages it may read now (one read ahead while the last is sent)
        bool cancelled = false;
    };
    struct Worker;
    void run(Worker &worker);
    void read(Worker &worker, const std::shared_ptr<Job> &job);

    SnapshotReaderConfig config_;
    std::function<void(SnapshotEvent)> deliver_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> pending_;                    // guarded by mutex_
    std::unordered_map<uint64_t, std::shared_ptr<Job>> jobs_;     // guarded by mutex_
    bool stop_ = false;                                           // guarded by mutex_
};

}  // namespace livesync::snapshot
