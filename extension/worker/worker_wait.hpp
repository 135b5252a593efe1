// worker/: the replicator background worker. Every wait of the worker goes through
// wait_for_socket(), so SIGTERM, SIGHUP and postmaster death are noticed within one
// wait, whatever the worker is doing (reading the slot, talking to Redis, backing off).
#pragma once

extern "C" {
#include "postgres.h"

#include "storage/latch.h"
}

#include <csignal>
#include <stdexcept>
#include <string>

namespace livesync::extension::worker {

extern volatile sig_atomic_t shutdown_requested;
extern volatile sig_atomic_t reload_requested;

// Thrown out of any wait once SIGTERM arrived; the main loop exits cleanly on it.
struct ShutdownRequested {};

// A connection to Redis or to the slot broke; the replicator starts over from the
// slot's confirmed position after a backoff.
class TransientError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Waits for the socket (fd < 0: only the latch/timeout). socket_events is a mask of
// WL_SOCKET_READABLE / WL_SOCKET_WRITEABLE. Returns WaitLatch's event mask.
int wait_for_socket(int fd, int socket_events, long timeout_ms);

// Waits on the latch, postmaster death and two sockets at once (the slot's and
// Redis'), for a loop that keeps reading the slot while a Redis reply is on its way.
// Sockets must stay the same for the waiter's life (one per session).
class TwoSocketWaiter {
public:
    TwoSocketWaiter(int first_fd, int second_fd);
    ~TwoSocketWaiter();
    TwoSocketWaiter(const TwoSocketWaiter &) = delete;
    TwoSocketWaiter &operator=(const TwoSocketWaiter &) = delete;
    struct Ready {
        bool first = false;
        bool second = false;
    };
    // Throws ShutdownRequested once SIGTERM arrived.
    Ready wait(long timeout_ms);

private:
    WaitEventSet *set_ = nullptr;
    int first_pos_ = -1, second_pos_ = -1;
};

// CHECK_FOR_INTERRUPTS through pg_call: a pending cancel or terminate of a backend is
// thrown as PgError. Every wait calls it before and after waiting.
void check_for_interrupts();

// Milliseconds on a monotonic clock.
int64_t now_ms();

}  // namespace livesync::extension::worker
