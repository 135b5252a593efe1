// The replicator's replication connection to its own server (local socket, streaming
// replication protocol, as Postgres' logical replication workers do): a commit wakes
// the worker at once, and the slot's flush position is confirmed explicitly, only for
// what Redis has acknowledged.
#pragma once

extern "C" {
#include "postgres.h"

#include "access/xlogdefs.h"
}

#include <libpq-fe.h>

#include <string>
#include <string_view>

namespace livesync::extension::worker {

// One message of the CopyBoth stream.
struct SlotMessage {
    enum class Kind { None, Data, Keepalive } kind = Kind::None;
    XLogRecPtr wal_end = InvalidXLogRecPtr;
    bool reply_requested = false;
    std::string_view payload;  // Data: one output-plugin message; valid until next receive()
};

class SlotStream {
public:
    SlotStream() = default;
    ~SlotStream() { close(); }
    SlotStream(const SlotStream &) = delete;
    SlotStream &operator=(const SlotStream &) = delete;

    // Connects, creates the slot if it is missing, and starts streaming from the slot's
    // confirmed position. Throws TransientError.
    void open(const std::string &conninfo, const std::string &slot_name);
    void close();
    bool is_open() const { return conn_ != nullptr; }

    // The next message already received, or Kind::None when none is buffered.
    SlotMessage receive();
    // Waits (on the latch too) until the socket is readable or timeout_ms passed.
    void wait_readable(long timeout_ms);
    // After an outside wait said the socket is readable: take in what arrived.
    void consume_input();
    int socket() const { return conn_ ? PQsocket(conn_) : -1; }
    // Reports the position up to which every change is safely in Redis.
    void confirm(XLogRecPtr flushed);

private:
    [[noreturn]] void fail(const std::string &what);
    PGresult *exec(const std::string &sql);
    void flush_output();

    PGconn *conn_ = nullptr;
    char *copy_buffer_ = nullptr;
};

// The local-socket libpq connection string for this server's database, connecting as
// superuser (the bootstrap superuser's name, looked up by the caller in a transaction).
std::string replication_conninfo(const char *superuser);

}  // namespace livesync::extension::worker
