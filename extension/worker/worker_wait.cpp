#include "worker_wait.hpp"

#include "extension/pg_guard.hpp"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
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

int wait_for_socket(int fd, int socket_events, long timeout_ms) {
    if (shutdown_requested) throw ShutdownRequested{};
    int events = WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH;
    if (fd >= 0) events |= socket_events;
    int rc = WaitLatchOrSocket(MyLatch, events, fd >= 0 ? fd : PGINVALID_SOCKET, timeout_ms < 0 ? 0 : timeout_ms,
                               PG_WAIT_EXTENSION);
    if (rc & WL_LATCH_SET) ResetLatch(MyLatch);
    if (shutdown_requested) throw ShutdownRequested{};
    // In a backend (SQL functions that talk to Redis) a cancel or terminate request
    // surfaces here, as a PgError that unwinds the C++ frames above.
    if (!IsBackgroundWorker) pg_call([] { CHECK_FOR_INTERRUPTS(); });
    return rc;
}

}  // namespace livesync::extension::worker
