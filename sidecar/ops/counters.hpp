// Counters of what livesyncd dropped, rejected or did, shared by its threads. One
// instance, owned by main() and handed to each component by reference. Logged at
// shutdown; /metrics (ops/metrics.hpp) reads the same fields.
#pragma once

#include <atomic>
#include <cstdint>

#include "sidecar/ops/error_counts.hpp"
#include "sidecar/ops/histogram.hpp"

namespace livesync::ops {

struct Counters {
    std::atomic<uint64_t> stream_entries{0};        // stream entries read
    std::atomic<uint64_t> bad_stream_entries{0};    // entries skipped: not a valid batch
    std::atomic<uint64_t> frames_built{0};          // distinct change frames encoded
    std::atomic<uint64_t> frames_queued{0};         // change frames queued to sessions
    std::atomic<uint64_t> send_queue_overflows{0};  // sessions closed with 1008: queue over its bound
    std::atomic<uint64_t> send_queue_stalls{0};     // sessions closed with 1008: queue did not move
    std::atomic<uint64_t> catch_ups{0};             // live sessions handed to the replay: read slower than the stream
    std::atomic<uint64_t> registry_ops_dropped{0};  // registry updates dropped: queue full
    std::atomic<uint64_t> replay_entries{0};        // stream entries read for resuming sessions
    std::atomic<uint64_t> resumes{0};               // sessions that resumed from last_lsn
    std::atomic<uint64_t> resyncs_required{0};      // resumes answered with resync_required
    std::atomic<uint64_t> resume_config_missing{0};  // ... because no config version that old was kept
    std::atomic<uint64_t> stale_config_refused{0};   // Redis offered a config older than the one applied
    std::atomic<uint64_t> live_gaps{0};             // gaps the live reader found in the stream
    std::atomic<uint64_t> stream_behind{0};         // times Redis came back behind what the live reader read
    std::atomic<uint64_t> live_resyncs{0};          // sessions told resync_required because of one
    std::atomic<uint64_t> snapshot_queries{0};      // snapshot queries sent to Postgres (sidecar/snapshot)
    std::atomic<uint64_t> snapshot_subscriptions{0};  // subscriptions that got their snapshot_end
    std::atomic<uint64_t> snapshot_rows{0};         // snapshot rows queued to sessions
    std::atomic<uint64_t> snapshot_failures{0};     // snapshot queries that failed (snapshot_failed)
    std::atomic<uint64_t> snapshot_waits{0};        // snapshot requests told snapshot_waiting
    std::atomic<uint64_t> snapshot_late_joins{0};   // requests that joined a query after its first rows
    std::atomic<uint64_t> snapshot_yields{0};       // times snapshots slowed down for live changes (SnapshotPacer)
    std::atomic<uint64_t> snapshot_pace_waits{0};   // times snapshot work waited for the pacer's rate
    // Security (sidecar/auth): see docs/security.md.
    std::atomic<uint64_t> auth_failures{0};          // sessions closed 4401: missing/bad/expired token
    std::atomic<uint64_t> auth_refreshes{0};         // tokens refreshed on a live session
    std::atomic<uint64_t> sessions_expired{0};       // sessions closed 4401 when their token expired
    std::atomic<uint64_t> forbidden_subscriptions{0};
    std::atomic<uint64_t> subscriptions_revoked{0};  // ended by the server: revoke / unpublish
    std::atomic<uint64_t> rate_limited{0};           // connections or messages refused with 4429
    std::atomic<uint64_t> banned_refusals{0};        // connections refused: address banned
    std::atomic<uint64_t> bans{0};                   // bans imposed by this sidecar
    std::atomic<uint64_t> kicks{0};                  // sessions closed by an admin or SQL kick
    std::atomic<uint64_t> client_takeovers{0};       // hellos here that took a client id held on another sidecar
    std::atomic<uint64_t> remote_replacements{0};    // sessions here closed 4409: their id said hello elsewhere
    std::atomic<uint64_t> audit_events{0};
    std::atomic<uint64_t> audit_events_dropped{0};   // not written to the audit stream
    std::atomic<uint64_t> sessions_opened{0};
    std::atomic<uint64_t> sessions_closed{0};
    // Delivery and stream state for /readyz and /metrics (ops/metrics.hpp).
    std::atomic<uint64_t> frames_sent{0};              // WebSocket messages written (all kinds)
    std::atomic<uint64_t> bytes_sent{0};               // their payload bytes
    ErrorCounts errors_by_code;                        // error frames written, by code
    Histogram fanout_seconds;                          // entry arrival from Redis → frames queued
    std::atomic<bool> stream_connected{false};         // the reader's Redis link is up (after a snapshot)
    std::atomic<uint64_t> stream_entries_handed{0};    // valid entries the reader queued for fan-out
    std::atomic<uint64_t> stream_entries_applied{0};   // entries the service thread fanned out
    std::atomic<int64_t> last_entry_applied_us{-1};    // steady clock (µs) of the last fan-out; -1: none
    std::atomic<int64_t> last_commit_lag_us{-1};       // fan-out time − commit time of its newest transaction
};

}  // namespace livesync::ops
