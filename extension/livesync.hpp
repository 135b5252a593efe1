// extension/: the Postgres side of livesync. This header holds what the module's parts
// share: the GUC values (defined once in _PG_init) and the replicator's shared-memory
// state that livesync.status() reads.
#pragma once

extern "C" {
#include "postgres.h"

#include "port/atomics.h"
#include "storage/lwlock.h"
}

namespace livesync::extension {

struct Settings {
    char *database;
    char *redis_url;
    char *redis_password_file;  // "": the password in redis_url (or LIVESYNC_REDIS_PASSWORD), if any
    char *redis_prefix;
    char *redis_sentinels;     // "" : livesync.redis_url names the node itself
    char *redis_primary_name;
    char *slot_name;
    char *replication_conninfo;
    char *claims;
    char *sidecar_ca_file;    // "": the system's CA store for https sidecars
    int batch_max_bytes;
    int batch_max_delay_ms;   // 0: publish as soon as the slot's socket is drained
    int redis_timeout_ms;
    int sweep_interval_s;
    int stream_max_entries;   // 0: no count bound
    int stream_max_age_s;     // 0: no age bound
    int redis_min_replicas;   // WAIT for this many replicas before confirming the slot
};
extern Settings settings;

// Written by the replicator only, read by any backend (atomics: no lock needed for
// monotonic counters and flags read independently).
struct WorkerState {
    pg_atomic_uint32 pid;
    pg_atomic_uint32 redis_connected;
    pg_atomic_uint32 slot_connected;
    pg_atomic_uint64 published_lsn;     // commit LSN of the newest transaction in Redis
    pg_atomic_uint64 confirmed_lsn;     // the slot position last confirmed to Postgres
    pg_atomic_uint64 last_commit_time;  // TimestampTz of that transaction
    pg_atomic_uint64 batches_published;
    pg_atomic_uint64 changes_published;
    pg_atomic_uint64 bytes_published;
};
WorkerState *worker_state();  // nullptr when the library was not preloaded

// Makes a drop of livesync.tables / livesync.rules empty the sync config at its LSN
// (extension/config_drop.cpp).
void install_config_drop_hook();

}  // namespace livesync::extension
