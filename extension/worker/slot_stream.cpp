#include "slot_stream.hpp"

#include "extension/livesync.hpp"
#include "worker_wait.hpp"

extern "C" {
#include "catalog/pg_authid_d.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
}

namespace livesync::extension::worker {

namespace {
constexpr long kConnectTimeoutMs = 30000;

std::string conninfo_value(const char *value) {
    std::string out = "'";
    for (const char *p = value; *p; ++p) {
        if (*p == '\'' || *p == '\\') out += '\\';
        out += *p;
    }
    return out + "'";
}

uint64_t read_be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

void write_be64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = static_cast<char>(v & 0xff);
        v >>= 8;
    }
}
}  // namespace

std::string replication_conninfo(const char *superuser) {
    // The first Unix socket directory if there is one, else loopback TCP.
    std::string host = "127.0.0.1";
    if (Unix_socket_directories && Unix_socket_directories[0]) {
        std::string dirs = Unix_socket_directories;
        host = dirs.substr(0, dirs.find(','));
        while (!host.empty() && host.front() == ' ') host.erase(0, 1);
        while (!host.empty() && host.back() == ' ') host.pop_back();
    }
    std::string info = "host=" + conninfo_value(host.c_str()) + " port=" + std::to_string(PostPortNumber) +
                       " dbname=" + conninfo_value(settings.database) +
                       " user=" + conninfo_value(superuser) +
                       " replication=database application_name='livesync replicator'";
    if (settings.replication_conninfo && settings.replication_conninfo[0])
        info += std::string(" ") + settings.replication_conninfo;
    return info;
}

void SlotStream::fail(const std::string &what) {
    std::string message = what;
    if (conn_) {
        const char *err = PQerrorMessage(conn_);
        if (err && *err) {
            message += ": ";
            message += err;
            while (!message.empty() && message.back() == '\n') message.pop_back();
        }
    }
    close();
    throw TransientError(message);
}

void SlotStream::close() {
    if (copy_buffer_) PQfreemem(copy_buffer_);
    copy_buffer_ = nullptr;
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
}

PGresult *SlotStream::exec(const std::string &sql) {
    if (!PQsendQuery(conn_, sql.c_str())) fail("cannot send \"" + sql + "\"");
    PGresult *last = nullptr;
    for (;;) {
        while (PQisBusy(conn_)) {
            wait_for_socket(PQsocket(conn_), WL_SOCKET_READABLE, 1000);
            if (!PQconsumeInput(conn_)) fail("connection lost during \"" + sql + "\"");
        }
        PGresult *r = PQgetResult(conn_);
        if (r == nullptr) break;
        if (last) PQclear(last);
        last = r;
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_BOTH || st == PGRES_COPY_OUT) break;
    }
    if (last == nullptr) fail("no result for \"" + sql + "\"");
    return last;
}

void SlotStream::open(const std::string &conninfo, const std::string &slot_name) {
    close();
    conn_ = PQconnectStart(conninfo.c_str());
    if (conn_ == nullptr) throw TransientError("cannot allocate a libpq connection");
    if (PQstatus(conn_) == CONNECTION_BAD) fail("cannot connect for replication");
    int64_t deadline = now_ms() + kConnectTimeoutMs;
    PostgresPollingStatusType poll = PGRES_POLLING_WRITING;
    while (poll != PGRES_POLLING_OK) {
        if (poll == PGRES_POLLING_FAILED) fail("cannot connect for replication");
        int events = poll == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
        wait_for_socket(PQsocket(conn_), events, deadline - now_ms());
        if (now_ms() >= deadline) fail("timed out connecting for replication");
        poll = PQconnectPoll(conn_);
    }
    if (PQsetnonblocking(conn_, 1) != 0) fail("cannot make the replication connection non-blocking");

    char *quoted_name = PQescapeLiteral(conn_, slot_name.c_str(), slot_name.size());
    char *quoted_ident = PQescapeIdentifier(conn_, slot_name.c_str(), slot_name.size());
    std::string lookup = std::string("SELECT plugin FROM pg_catalog.pg_replication_slots WHERE slot_name = ") +
                         quoted_name;
    std::string ident = quoted_ident;
    PQfreemem(quoted_name);
    PQfreemem(quoted_ident);

    PGresult *r = exec(lookup);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        fail("cannot look up slot " + slot_name);
    }
    bool exists = PQntuples(r) > 0;
    std::string plugin = exists ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    if (exists && plugin != "livesync") {
        close();
        throw TransientError("replication slot \"" + slot_name + "\" exists with output plugin \"" + plugin +
                             "\", not livesync; drop it or set livesync.slot_name to another name");
    }
    if (!exists) {
        r = exec("CREATE_REPLICATION_SLOT " + ident + " LOGICAL livesync NOEXPORT_SNAPSHOT");
        bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (!ok) fail("cannot create replication slot " + slot_name);
        ereport(LOG, (errmsg("livesync replicator: created replication slot \"%s\"", slot_name.c_str())));
    }
    r = exec("START_REPLICATION SLOT " + ident + " LOGICAL 0/0 (\"format\" 'msgpack')");
    bool ok = PQresultStatus(r) == PGRES_COPY_BOTH;
    PQclear(r);
    if (!ok) fail("cannot start replication from slot " + slot_name);
}

SlotMessage SlotStream::receive() {
    SlotMessage msg;
    if (copy_buffer_) {
        PQfreemem(copy_buffer_);
        copy_buffer_ = nullptr;
    }
    int len = PQgetCopyData(conn_, &copy_buffer_, 1);
    if (len == 0) return msg;
    if (len == -1) fail("the server ended the replication stream");
    if (len < 0) fail("replication stream broke");
    const char *buf = copy_buffer_;
    if (buf[0] == 'w' && len >= 25) {
        msg.kind = SlotMessage::Kind::Data;
        msg.wal_end = read_be64(buf + 9);
        msg.payload = std::string_view(buf + 25, len - 25);
    } else if (buf[0] == 'k' && len >= 18) {
        msg.kind = SlotMessage::Kind::Keepalive;
        msg.wal_end = read_be64(buf + 1);
        msg.reply_requested = buf[17] != 0;
    } else {
        fail("unexpected message on the replication stream");
    }
    return msg;
}

void SlotStream::wait_readable(long timeout_ms) {
    int rc = wait_for_socket(PQsocket(conn_), WL_SOCKET_READABLE, timeout_ms);
    if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn_)) fail("replication connection lost");
}

void SlotStream::consume_input() {
    if (!PQconsumeInput(conn_)) fail("replication connection lost");
}

void SlotStream::flush_output() {
    int64_t deadline = now_ms() + kConnectTimeoutMs;
    for (;;) {
        int rc = PQflush(conn_);
        if (rc == 0) return;
        if (rc < 0) fail("cannot send to the replication connection");
        wait_for_socket(PQsocket(conn_), WL_SOCKET_WRITEABLE | WL_SOCKET_READABLE, deadline - now_ms());
        if (!PQconsumeInput(conn_)) fail("replication connection lost");
        if (now_ms() >= deadline) fail("timed out sending to the replication connection");
    }
}

void SlotStream::confirm(XLogRecPtr flushed) {
    char reply[1 + 8 * 4 + 1];
    reply[0] = 'r';
    write_be64(reply + 1, flushed);   // written
    write_be64(reply + 9, flushed);   // flushed: the slot may advance to here
    write_be64(reply + 17, flushed);  // applied
    write_be64(reply + 25, static_cast<uint64_t>(GetCurrentTimestamp()));
    reply[33] = 0;
    if (PQputCopyData(conn_, reply, sizeof reply) <= 0) fail("cannot send feedback to the replication connection");
    flush_output();
}

}  // namespace livesync::extension::worker
