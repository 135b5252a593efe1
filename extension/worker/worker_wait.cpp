#include "worker_wait.hpp"

#include "extension/pg_guard.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"
}

#include <ctime>

namespace livesync::extension::worker {

volatile sig_atomic_t shutdown_requested = 0;
volatile sig_atomic_t reload_requested = 0;

int64_t now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

TwoSocketWaiter::TwoSocketWaiter(int first_fd, int second_fd) {
    pg_call([&] {
        set_ = CreateWaitEventSet(TopMemoryContext, 4);
        AddWaitEventToSet(set_, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, nullptr);
        AddWaitEventToSet(set_, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, nullptr, nullptr);
        first_pos_ = AddWaitEventToSet(set_, WL_SOCKET_READABLE, first_fd, nullptr, nullptr);
        second_pos_ = AddWaitEventToSet(set_, WL_SOCKET_READABLE, second_fd, nullptr, nullptr);
    });
}

TwoSocketWaiter::~TwoSocketWaiter() {
    if (set_) FreeWaitEventSet(set_);
}

// Interrupts pending for this process: in a backend (SQL functions that talk to Redis) a
// cancel or terminate request surfaces here as a PgError that unwinds the C++ frames
// above (closing their Redis connection); in the replicator, barrier and memory-context
// requests are served (its SIGTERM is shutdown_requested, handled by the callers).
void check_for_interrupts() {
    pg_call([] { CHECK_FOR_INTERRUPTS(); });
}

TwoSocketWaiter::Ready TwoSocketWaiter::wait(long timeout_ms) {
    if (shutdown_requested) throw ShutdownRequested{};
    check_for_interrupts();
    WaitEvent events[4];
    int n = 0;
    WaitEventSet *set = set_;
    pg_call([&] { n = WaitEventSetWait(set, timeout_ms < 0 ? 0 : timeout_ms, events, 4, PG_WAIT_EXTENSION); });
    Ready ready;
    for (int i = 0; i < n; ++i) {
        if (events[i].events & WL_LATCH_SET) ResetLatch(MyLatch);
        if (events[i].pos == first_pos_) ready.first = true;
        if (events[i].pos == second_pos_) ready.second = true;
    }
    if (shutdown_requested) throw ShutdownRequested{};
    check_for_interrupts();
    return ready;
}

int wait_for_socket(int fd, int socket_events, long timeout_ms) {
    if (shutdown_requested) throw ShutdownRequested{};
    check_for_interrupts();
    int events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
    if (fd >= 0) events |= socket_events;
    int rc = 0;
    // WaitLatchOrSocket can raise (a failing epoll_ctl, say): through pg_call, so the
    // C++ frames above unwind instead of being jumped over.
    pg_call([&] {
        rc = WaitLatchOrSocket(MyLatch, events, fd >= 0 ? fd : PGINVALID_SOCKET, timeout_ms < 0 ? 0 : timeout_ms,
                               PG_WAIT_EXTENSION);
    });
    if (rc & WL_LATCH_SET) ResetLatch(MyLatch);
    if (shutdown_requested) throw ShutdownRequested{};
    check_for_interrupts();
    return rc;
}

}  // namespace livesync::extension::worker
