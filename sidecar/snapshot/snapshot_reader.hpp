// Reads snapshot rows from Postgres through libpq, on threads of its own (the lws thread
// never waits on Postgres). One thread per allowed concurrent snapshot query; each runs
// one query at a time:
//   BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY
//   SELECT pg_current_snapshot(), <WAL position>   -- the snapshot, taken here
//   SELECT field, value FROM livesync.sync_config() -- the config that snapshot sees
//   COPY (SELECT livesync.snapshot_pages(<table>, <its published columns>, <its tenant
//     column>, <tenant>, <page rows>)) TO STDOUT (FORMAT binary)
// and reads the COPY's pages (about 64 KiB each) one event (about 256 KiB) per more(), so
// the client's pace drives the reads: a backend whose socket is full waits. The published
// columns and tenant column come from the config read in the snapshot, which the rows
// are then judged by (docs/architecture.md). Rows arrive as the output plugin's msgpack
// maps (livesync.snapshot_pages packs them as encode_row does), a page of them back to
// back, so they carry the same typed values an insert would. A query whose job is
// cancelled (every client left) is cancelled in Postgres (PQcancel) and its connection
// closed.
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
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sidecar/protocol/snapshot_frame.hpp"
#include "sidecar/rules/config_history.hpp"

namespace livesync::snapshot {

struct SnapshotQuery {
    uint64_t job = 0;
    std::string schema;
    std::string table;
    // When the table has a tenant column in the snapshot's config, rows of other tenants
    // never leave Postgres: WHERE <tenant_column>::text = tenant. (The sidecar still checks
    // every row the way it checks a change.)
    std::optional<std::string> tenant;
    // Some client of the query may see every row whole in this encoding (no tenant column,
    // a rule filter of TRUE, no subscription filter, every column): the reader thread then
    // also hands each page over as such rows, encoded once for all of them
    // (SnapshotEvent::whole), so that the service thread only frames them.
    bool whole_json = false;
    bool whole_msgpack = false;
};

// The statement that reads a snapshot's rows: COPY (SELECT livesync.snapshot_pages(table,
// columns, tenant column, tenant, page_rows)) TO STDOUT (FORMAT binary); `literal` quotes
// a string as an SQL literal (PQescapeLiteral). The tenant is used only with a tenant
// column. Exposed for tests.
std::string snapshot_sql(const std::string &table, const std::optional<std::vector<std::string>> &columns,
                         const std::optional<std::string> &tenant_column, const std::optional<std::string> &tenant,
                         size_t page_rows, const std::function<std::string(const std::string &)> &literal);
// One CopyData message of that COPY: the page in it (*field, pointing into message), or
// the trailer (*trailer); the first message starts with the binary COPY header. false
// and *error for anything else.
bool parse_copy_row(std::string_view message, bool first, std::string_view *field, bool *trailer,
                    std::string *error);
// A text[] literal of names ({"a","b\"c"}).
std::string text_array_literal(const std::vector<std::string> &names);

struct SnapshotEvent {
    enum class Kind { Started, Rows, End, Failed };
    uint64_t job = 0;
    Kind kind = Kind::Rows;
    std::string snapshot_text;   // Started: pg_current_snapshot()
    uint64_t wal_bound = 0;      // Started
    // Started: the sync config as the snapshot sees it (livesync.sync_config()): the rows
    // are judged by it.
    std::shared_ptr<const rules::ConfigVersion> config;
    // Rows: pages of rows in order, each the rows' msgpack maps back to back
    // (livesync.snapshot_pages; common::PageRows reads them).
    std::vector<std::string> pages;
    // Rows, for the encodings the query asked for (SnapshotQuery::whole_*), when the
    // snapshot's config has no tenant column for the table: the same rows, every column of
    // each, as snapshot_rows bodies of about kWholeBodyBytes each, in order (each body
    // says its encoding). whole_json / whole_msgpack: the bodies of that encoding are here;
    // false when not asked for or a page could not be read (the service thread encodes).
    std::vector<protocol::SnapshotRowsBody> whole;
    bool whole_json = false;
    bool whole_msgpack = false;
    static constexpr size_t kWholeBodyBytes = 256u << 10;
    std::string error;           // Failed: what Postgres said
};

// The rows of `pages` as whole-row bodies in `encoding` (JSON objects, or the msgpack maps
// as Postgres packed them), cut at about SnapshotEvent::kWholeBodyBytes; rows without
// columns are skipped, as the coordinator skips them. false (and *error) when a page is
// not rows. Exposed for tests.
bool encode_whole_rows(const std::vector<std::string> &pages, protocol::Encoding encoding,
                       std::vector<protocol::SnapshotRowsBody> &out, std::string *error);

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
    size_t page_rows = 10000;      // rows per page at most (a page also stops near 64 KiB)
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
    // Ends a query mid-way (cancelled, failed): closes its connection.
    void abandon(Worker &worker);
    // Pages handed over per event (and per credit): about one snapshot_rows frame.
    static constexpr size_t kEventBytes = 256u << 10;

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
