#include "sidecar/snapshot/snapshot_reader.hpp"

#include <libpq-fe.h>

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

std::string snapshot_sql(const SnapshotQuery &query) {
    std::string columns;
    if (query.columns) {
        for (const std::string &c : *query.columns) {
            if (!columns.empty()) columns += ", ";
            columns += quote_ident(c);
        }
    } else {
        columns = "*";
    }
    std::string sql = "DECLARE livesync_snapshot NO SCROLL CURSOR FOR SELECT livesync.encode_row(r) FROM (SELECT " +
                      columns + " FROM " + quote_ident(query.schema) + "." + quote_ident(query.table);
    if (query.tenant_column) sql += " WHERE " + quote_ident(*query.tenant_column) + "::text = $1";
    return sql + ") r";
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
        const SnapshotQuery &q = job->query;
        std::string sql = snapshot_sql(q);
        const char *params[1] = {q.tenant ? q.tenant->c_str() : nullptr};
        PgResult r(PQexecParams(conn, sql.c_str(), q.tenant_column ? 1 : 0, nullptr, params, nullptr, nullptr, 0));
        if (!command_ok(r.res, PGRES_COMMAND_OK, "cannot read the table")) return end(true);
    }
    if (cancelled()) return end(true);
    deliver_(std::move(started));
    std::string fetch = "FETCH FORWARD " + std::to_string(config_.page_rows) + " FROM livesync_snapshot";
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || job->cancelled || job->credit > 0; });
            if (stop_ || job->cancelled) break;
            --job->credit;
        }
        // Binary results: the bytea arrives as is, not as hex text.
        PgResult r(PQexecParams(conn, fetch.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1));
        if (!command_ok(r.res, PGRES_TUPLES_OK, "cannot read the table")) return end(true);
        int n = PQntuples(r.res);
        SnapshotEvent page;
        page.job = id;
        page.kind = SnapshotEvent::Kind::Rows;
        page.rows.reserve(static_cast<size_t>(n));
        for (int i = 0; i < n; ++i)
            page.rows.emplace_back(PQgetvalue(r.res, i, 0), static_cast<size_t>(PQgetlength(r.res, i, 0)));
        bool last = static_cast<size_t>(n) < config_.page_rows;
        if (n > 0) {
            if (cancelled()) break;
            deliver_(std::move(page));
        }
        if (last) {
            end(false);
            if (cancelled()) return;
            SnapshotEvent done;
            done.job = id;
            done.kind = SnapshotEvent::Kind::End;
            deliver_(std::move(done));
            return;
        }
        if (n == 0) break;
    }
    end(true);
}

}  // namespace livesync::snapshot
