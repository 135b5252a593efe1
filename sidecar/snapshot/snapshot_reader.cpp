#include "sidecar/snapshot/snapshot_reader.hpp"

#include <libpq-fe.h>

#include <tuple>

#include "common/lsn.hpp"
#include "sidecar/ops/log.hpp"

namespace livesync::snapshot {

namespace {

std::string quote_ident(const std::string &name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + '"';
}

// The first line of libpq's message: what went wrong, without the hints' noise.
std::string first_line(const char *message) {
    std::string text = message ? message : "";
    size_t nl = text.find('\n');
    if (nl != std::string::npos) text.resize(nl);
    return text.empty() ? "unknown error" : text;
}

struct PgResult {
    PGresult *res = nullptr;
    explicit PgResult(PGresult *r) : res(r) {}
    ~PgResult() { PQclear(res); }
    PgResult(const PgResult &) = delete;
    PgResult &operator=(const PgResult &) = delete;
};

}  // namespace

std::string snapshot_sql(const std::string &table, const std::optional<std::vector<std::string>> &columns,
                         const std::optional<std::string> &tenant_column, const std::optional<std::string> &tenant,
                         size_t page_rows, const std::function<std::string(const std::string &)> &literal) {
    std::string sql = "COPY (SELECT livesync.snapshot_pages(" + literal(table) + "::regclass, ";
    sql += columns ? literal(text_array_literal(*columns)) + "::text[], " : std::string("NULL, ");
    sql += tenant_column && tenant ? literal(*tenant_column) + ", " + literal(*tenant) + ", " : std::string("NULL, NULL, ");
    return sql + std::to_string(page_rows) + ")) TO STDOUT (FORMAT binary)";
}

bool parse_copy_row(std::string_view message, bool first, std::string_view *field, bool *trailer, std::string *error) {
    static constexpr std::string_view kSignature("PGCOPY\n\377\r\n\0", 11);
    auto u16 = [&](size_t at) {
        return static_cast<int16_t>((static_cast<uint8_t>(message[at]) << 8) | static_cast<uint8_t>(message[at + 1]));
    };
    auto u32 = [&](size_t at) {
        uint32_t v = 0;
        for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(message[at + i]);
        return v;
    };
    size_t at = 0;
    if (first) {
        // Signature, flags, header extension length (and the extension, skipped).
        if (message.size() < 19 || message.substr(0, 11) != kSignature) {
            *error = "not a binary COPY stream";
            return false;
        }
        uint32_t extension = u32(15);
        if (extension > message.size() - 19) {
            *error = "truncated binary COPY header";
            return false;
        }
        at = 19 + extension;
    }
    *trailer = false;
    if (message.size() - at < 2) {
        *error = "truncated binary COPY row";
        return false;
    }
    int16_t fields = u16(at);
    if (fields == -1) {
        *trailer = true;
        return true;
    }
    if (fields != 1 || message.size() - at < 6) {
        *error = "a binary COPY row of one column expected";
        return false;
    }
    uint32_t len = u32(at + 2);
    if (len == 0xFFFFFFFFu || len != message.size() - at - 6) {
        *error = "malformed binary COPY row";
        return false;
    }
    *field = message.substr(at + 6, len);
    return true;
}

std::string text_array_literal(const std::vector<std::string> &names) {
    std::string out = "{";
    for (const std::string &name : names) {
        if (out.size() > 1) out += ',';
        out += '"';
        for (char c : name) {
            if (c == '"' || c == '\\') out += '\\';
            out += c;
        }
        out += '"';
    }
    return out + '}';
}

bool encode_whole_rows(const std::vector<std::string> &pages, protocol::Encoding encoding,
                       std::vector<protocol::SnapshotRowsBody> &out, std::string *error) {
    std::vector<common::Column> row;
    std::string_view raw;
    auto fresh = [&] {
        out.emplace_back();
        out.back().encoding = encoding;
        out.back().bytes.reserve(SnapshotEvent::kWholeBodyBytes + (64u << 10));
    };
    fresh();
    for (const std::string &page : pages) {
        common::PageRows rows(page);
        while (rows.next(row, raw, error)) {
            if (row.empty()) continue;
            if (out.back().bytes.size() >= SnapshotEvent::kWholeBodyBytes) fresh();
            if (encoding == protocol::Encoding::Msgpack) out.back().add_raw(raw);
            else out.back().add(row);
        }
        if (!error->empty()) return false;
    }
    if (out.back().rows == 0) out.pop_back();
    return true;
}

struct SnapshotReader::Worker {
    std::thread thread;
    PGconn *conn = nullptr;
    std::mutex cancel_mutex;        // guards cancel
    PGcancel *cancel = nullptr;     // the running query's cancel handle
    uint64_t job = 0;               // the job it reads (guarded by cancel_mutex)
    ~Worker() {
        if (cancel) PQfreeCancel(cancel);
        if (conn) PQfinish(conn);
    }
};

SnapshotReader::SnapshotReader(SnapshotReaderConfig config, std::function<void(SnapshotEvent)> deliver)
    : config_(std::move(config)), deliver_(std::move(deliver)) {
    if (config_.max_queries == 0) config_.max_queries = 1;
}

SnapshotReader::~SnapshotReader() { stop(); }

void SnapshotReader::start() {
    for (size_t i = 0; i < config_.max_queries; ++i) {
        workers_.push_back(std::make_unique<Worker>());
        Worker *w = workers_.back().get();
        w->thread = std::thread([this, w] { run(*w); });
    }
}

void SnapshotReader::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_ && workers_.empty()) return;
        stop_ = true;
        for (auto &[id, job] : jobs_) job->cancelled = true;
    }
    wake_.notify_all();
    for (auto &w : workers_) {
        {
            std::lock_guard<std::mutex> lock(w->cancel_mutex);
            char err[256];
            if (w->cancel) PQcancel(w->cancel, err, sizeof err);
        }
        if (w->thread.joinable()) w->thread.join();
    }
    workers_.clear();
}

void SnapshotReader::submit(SnapshotQuery query) {
    auto job = std::make_shared<Job>();
    job->query = std::move(query);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_[job->query.job] = job;
        pending_.push_back(job);
    }
    wake_.notify_all();
}

void SnapshotReader::more(uint64_t job) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = jobs_.find(job);
        if (it == jobs_.end()) return;
        ++it->second->credit;
    }
    wake_.notify_all();
}

void SnapshotReader::cancel(uint64_t job) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = jobs_.find(job);
        if (it == jobs_.end()) return;
        it->second->cancelled = true;
    }
    wake_.notify_all();
    // A query running in Postgres for it stops at once (its worker sees the cancel).
    for (auto &w : workers_) {
        std::lock_guard<std::mutex> lock(w->cancel_mutex);
        char err[256];
        if (w->cancel && w->job == job) PQcancel(w->cancel, err, sizeof err);
    }
}

void SnapshotReader::run(Worker &worker) {
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || !pending_.empty(); });
            if (stop_) return;
            job = pending_.front();
            pending_.pop_front();
        }
        read(worker, job);
        std::lock_guard<std::mutex> lock(mutex_);
        jobs_.erase(job->query.job);
    }
}

void SnapshotReader::read(Worker &worker, const std::shared_ptr<Job> &job) {
    const uint64_t id = job->query.job;
    auto cancelled = [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        return job->cancelled || stop_;
    };
    auto fail = [&](std::string error) {
        if (cancelled()) return;
        SnapshotEvent e;
        e.job = id;
        e.kind = SnapshotEvent::Kind::Failed;
        e.error = std::move(error);
        deliver_(std::move(e));
    };
    auto connect = [&]() -> bool {
        if (worker.conn && PQstatus(worker.conn) == CONNECTION_OK) return true;
        if (worker.conn) PQfinish(worker.conn);
        // conninfo last: its own settings win over these defaults.
        const char *keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
        const char *values[] = {"5", "livesyncd snapshot", config_.conninfo.c_str(), nullptr};
        worker.conn = PQconnectdbParams(keys, values, 1);
        if (PQstatus(worker.conn) == CONNECTION_OK) return true;
        std::string error = "cannot connect to Postgres: " + first_line(PQerrorMessage(worker.conn));
        PQfinish(worker.conn);
        worker.conn = nullptr;
        ops::warn("snapshot query failed", {{"error", error}});
        fail(error);
        return false;
    };
    // A connection kept from an earlier snapshot may have died meanwhile (Postgres
    // restarted): libpq only notices at the next command, so BEGIN is tried on a fresh
    // connection once more.
    bool begun = false;
    for (int attempt = 0; attempt < 2 && !begun; ++attempt) {
        if (!connect()) return;
        PgResult r(PQexec(worker.conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
        if (PQresultStatus(r.res) == PGRES_COMMAND_OK) {
            begun = true;
        } else if (PQstatus(worker.conn) != CONNECTION_OK) {
            PQfinish(worker.conn);
            worker.conn = nullptr;
        } else {
            std::string error = "cannot begin the snapshot transaction: " + first_line(PQresultErrorMessage(r.res));
            ops::warn("snapshot query failed", {{"error", error}});
            fail(error);
            PgResult rollback(PQexec(worker.conn, "ROLLBACK"));
            return;
        }
    }
    if (!begun) {
        fail("cannot connect to Postgres: the connection was lost");
        return;
    }
    PGconn *conn = worker.conn;
    {
        std::lock_guard<std::mutex> lock(worker.cancel_mutex);
        worker.cancel = PQgetCancel(conn);
        worker.job = id;
    }
    auto end = [&](bool rollback) {
        {
            std::lock_guard<std::mutex> lock(worker.cancel_mutex);
            if (worker.cancel) PQfreeCancel(worker.cancel);
            worker.cancel = nullptr;
            worker.job = 0;
        }
        PgResult r(PQexec(conn, rollback ? "ROLLBACK" : "COMMIT"));
        if (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE) {
            PQfinish(worker.conn);
            worker.conn = nullptr;
        }
    };
    auto command_ok = [&](PGresult *res, ExecStatusType want, const char *what) {
        if (PQresultStatus(res) == want) return true;
        std::string error = std::string(what) + ": " + first_line(PQresultErrorMessage(res));
        ops::warn("snapshot query failed", {{"error", error}});
        fail(error);
        return false;
    };

    SnapshotEvent started;
    started.job = id;
    started.kind = SnapshotEvent::Kind::Started;
    {
        // The transaction's snapshot is taken by this first statement; the WAL position
        // read after it bounds every commit the snapshot sees.
        PgResult r(PQexec(conn,
                          "SELECT pg_current_snapshot()::text, CASE WHEN pg_is_in_recovery() "
                          "THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END::text"));
        if (!command_ok(r.res, PGRES_TUPLES_OK, "cannot take the snapshot")) return end(true);
        started.snapshot_text = PQgetvalue(r.res, 0, 0);
        auto lsn = common::parse_lsn(PQgetvalue(r.res, 0, 1));
        if (!lsn) {
            fail("cannot read the WAL position of the snapshot");
            return end(true);
        }
        started.wal_bound = *lsn;
    }
    {
        // The config this snapshot sees: which columns are published, the tenant column,
        // and (in the coordinator) the rules every row is judged by.
        PgResult r(PQexec(conn, "SELECT field, value FROM livesync.sync_config()"));
        if (!command_ok(r.res, PGRES_TUPLES_OK, "cannot read the sync config")) return end(true);
        std::vector<std::pair<std::string, std::string>> fields{{"v", "1"}};
        for (int i = 0; i < PQntuples(r.res); ++i) fields.emplace_back(PQgetvalue(r.res, i, 0), PQgetvalue(r.res, i, 1));
        std::string error;
        std::vector<std::string> rule_errors;  // a bad rule denies, as in the stream
        auto config = rules::parse_config_version(fields, &error, &rule_errors);
        if (!config) {
            fail("cannot read the sync config: " + error);
            return end(true);
        }
        started.config = std::make_shared<const rules::ConfigVersion>(std::move(*config));
    }
    const rules::TableScope *scope = started.config->tables.scope(job->query.schema + "." + job->query.table);
    if (scope == nullptr) {
        // Not published at the snapshot: no row of it is visible there.
        end(false);
        if (cancelled()) return;
        deliver_(std::move(started));
        SnapshotEvent done;
        done.job = id;
        done.kind = SnapshotEvent::Kind::End;
        deliver_(std::move(done));
        return;
    }
    // Whole rows only without a tenant column (the started event, and the config with it,
    // leave this thread below).
    const bool whole = !scope->tenant_column && (job->query.whole_json || job->query.whole_msgpack);
    {
        // COPY, not a cursor: each page travels once (a FETCH materializes its rows in the
        // portal, then copies them out), and the client's pace still drives the reads —
        // this thread reads the next page only with credit, and a backend whose socket is
        // full waits in send().
        const SnapshotQuery &q = job->query;
        auto literal = [&](const std::string &text) {
            char *quoted = PQescapeLiteral(conn, text.data(), text.size());
            std::string out = quoted ? quoted : "NULL";
            PQfreemem(quoted);
            return out;
        };
        std::string sql = snapshot_sql(quote_ident(q.schema) + "." + quote_ident(q.table), scope->columns,
                                       scope->tenant_column, q.tenant, config_.page_rows, literal);
        PgResult r(PQexec(conn, sql.c_str()));
        if (!command_ok(r.res, PGRES_COPY_OUT, "cannot read the table")) return end(true);
    }
    if (cancelled()) return abandon(worker);
    deliver_(std::move(started));
    bool first = true;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || job->cancelled || job->credit > 0; });
            if (stop_ || job->cancelled) return abandon(worker);
            --job->credit;
        }
        // Pages up to about kEventBytes per event: one hand-over and one frame per client.
        SnapshotEvent page;
        page.job = id;
        page.kind = SnapshotEvent::Kind::Rows;
        size_t bytes = 0;
        bool finished = false;
        while (bytes < kEventBytes) {
            char *buf = nullptr;
            int n = PQgetCopyData(conn, &buf, 0);
            if (n == -1) {
                // The COPY ended: its result says whether it succeeded.
                PgResult r(PQgetResult(conn));
                if (!command_ok(r.res, PGRES_COMMAND_OK, "cannot read the table")) return abandon(worker);
                finished = true;
                break;
            }
            if (n < 0) {
                fail("cannot read the table: " + first_line(PQerrorMessage(conn)));
                return abandon(worker);
            }
            std::string_view field;
            bool trailer = false;
            std::string error;
            bool ok = parse_copy_row(std::string_view(buf, static_cast<size_t>(n)), first, &field, &trailer, &error);
            first = false;
            if (ok && !trailer) {
                page.pages.emplace_back(field);
                bytes += field.size();
            }
            PQfreemem(buf);
            if (!ok) {
                fail("cannot read the table: " + error);
                return abandon(worker);
            }
        }
        if (whole && !page.pages.empty()) {
            // On this thread, once for every client of the query that sees rows whole.
            for (auto [asked, encoding, done] :
                 {std::tuple{job->query.whole_json, protocol::Encoding::Json, &page.whole_json},
                  std::tuple{job->query.whole_msgpack, protocol::Encoding::Msgpack, &page.whole_msgpack}}) {
                std::string error;
                std::vector<protocol::SnapshotRowsBody> bodies;
                if (!asked || !encode_whole_rows(page.pages, encoding, bodies, &error)) continue;
                *done = true;
                for (auto &body : bodies) page.whole.push_back(std::move(body));
            }
        }
        if (cancelled()) return abandon(worker);
        if (!page.pages.empty()) deliver_(std::move(page));
        if (finished) {
            end(false);
            if (cancelled()) return;
            SnapshotEvent done;
            done.job = id;
            done.kind = SnapshotEvent::Kind::End;
            deliver_(std::move(done));
            return;
        }
    }
}

void SnapshotReader::abandon(Worker &worker) {
    // Mid-COPY (or after a failure) the connection is closed rather than drained: the
    // backend sees it go and ends the query and its transaction.
    {
        std::lock_guard<std::mutex> lock(worker.cancel_mutex);
        if (worker.cancel) PQfreeCancel(worker.cancel);
        worker.cancel = nullptr;
        worker.job = 0;
    }
    if (worker.conn) PQfinish(worker.conn);
    worker.conn = nullptr;
}

}  // namespace livesync::snapshot
