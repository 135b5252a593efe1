// Module entry: GUCs, shared memory for the replicator's state, and the replicator's
// registration. Loaded by shared_preload_libraries (postmaster) and again by every
// walsender that decodes with the `livesync` output plugin.
#include "livesync.hpp"

#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"

#include <string>

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);
}

namespace livesync::extension {

Settings settings;

namespace {
WorkerState *state = nullptr;
shmem_request_hook_type prev_shmem_request_hook = nullptr;
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

void request_shmem() {
    if (prev_shmem_request_hook) prev_shmem_request_hook();
    RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerState)));
}

void startup_shmem() {
    if (prev_shmem_startup_hook) prev_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    state = static_cast<WorkerState *>(ShmemInitStruct("livesync worker state", sizeof(WorkerState), &found));
    if (!found) {
        pg_atomic_init_u32(&state->pid, 0);
        pg_atomic_init_u32(&state->redis_connected, 0);
        pg_atomic_init_u32(&state->slot_connected, 0);
        pg_atomic_init_u64(&state->published_lsn, 0);
        pg_atomic_init_u64(&state->confirmed_lsn, 0);
        pg_atomic_init_u64(&state->last_commit_time, 0);
        pg_atomic_init_u64(&state->batches_published, 0);
        pg_atomic_init_u64(&state->changes_published, 0);
        pg_atomic_init_u64(&state->bytes_published, 0);
    }
    LWLockRelease(AddinShmemInitLock);
}

// GUC check hooks: a bad Sentinel list or name is refused at SET / reload time with
// the parser's message, not discovered by the worker later.
bool check_sentinels(char **newval, void **, GucSource) {
    std::string error;
    if (livesync::common::parse_sentinel_list(*newval ? *newval : "", &error)) return true;
    GUC_check_errdetail("%s", error.c_str());
    return false;
}

bool check_primary_name(char **newval, void **, GucSource) {
    if (*newval && livesync::common::valid_primary_name(*newval)) return true;
    GUC_check_errdetail("A primary name is 1 to 128 characters of A-Z a-z 0-9 . _ -.");
    return false;
}

void define_gucs() {
    DefineCustomStringVariable("livesync.database", "Database whose changes the replicator streams.", nullptr,
                               &settings.database, "postgres", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("livesync.redis_url", "Redis server the replicator publishes to.",
                               "redis://[:password@]host[:port][/db]", &settings.redis_url,
                               "redis://127.0.0.1:6379", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
    // The URL is written to the server log whenever it changes (and to
    // postgresql.auto.conf by ALTER SYSTEM): the password belongs in a file.
    DefineCustomStringVariable("livesync.redis_password_file", "File holding the Redis password.",
                               "Read at every connect; replaces the password of livesync.redis_url. The file must "
                               "not be accessible by others (chmod 600).",
                               &settings.redis_password_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr,
                               nullptr);
    DefineCustomStringVariable("livesync.redis_sentinels",
                               "Redis Sentinels (host:port,...) to ask where the primary is.",
                               "Empty: livesync.redis_url names the node. Set: its host is ignored, its user, "
                               "password and database still apply.",
                               &settings.redis_sentinels, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_sentinels,
                               nullptr, nullptr);
    DefineCustomStringVariable("livesync.redis_primary_name", "The primary's name in the Redis Sentinels.", nullptr,
                               &settings.redis_primary_name, "livesync", PGC_SIGHUP, GUC_SUPERUSER_ONLY,
                               check_primary_name, nullptr, nullptr);
    DefineCustomStringVariable("livesync.redis_prefix", "Prefix of every Redis key livesync uses.", nullptr,
                               &settings.redis_prefix, common::kDefaultKeyPrefix.data(), PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("livesync.slot_name", "Logical replication slot the replicator reads.", nullptr,
                               &settings.slot_name, "livesync", PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("livesync.replication_conninfo",
                               "Extra libpq connection options for the replicator's replication connection.",
                               "Appended to the local-socket connection string, e.g. 'user=replicator'.",
                               &settings.replication_conninfo, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
                               nullptr, nullptr);
    DefineCustomIntVariable("livesync.sweep_interval",
                            "How often the replicator prunes registry entries of clients no sidecar holds.",
                            "0 disables the sweep.", &settings.sweep_interval_s, 30, 0, 86400, PGC_SIGHUP,
                            GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("livesync.sidecar_ca_file",
                               "PEM file of the CAs that sign the certificates of https sidecars.",
                               "The registry sweep trusts only these CAs when it asks a TLS sidecar which clients "
                               "are gone; empty: the system's CA store. Certificates and host names are always "
                               "verified.",
                               &settings.sidecar_ca_file, "", PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("livesync.batch_max_bytes", "Largest change batch written as one stream entry.", nullptr,
                            &settings.batch_max_bytes, 1024 * 1024, 4096, 256 * 1024 * 1024, PGC_SIGHUP,
                            GUC_UNIT_BYTE, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("livesync.batch_max_delay",
                            "How long a committed transaction may wait for more to join its batch.",
                            "0 (the default) publishes as soon as the replication socket is drained; a larger "
                            "value trades latency for fewer, bigger stream entries. batch_max_bytes still "
                            "publishes a full batch at once.",
                            &settings.batch_max_delay_ms, 0, 0, 10000, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable("livesync.redis_timeout", "How long one Redis command may take before the connection "
                            "is considered broken.", nullptr, &settings.redis_timeout_ms, 5000, 100, 600000,
                            PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable("livesync.stream_max_entries", "Approximate number of entries the change stream keeps.",
                            "Older entries are trimmed (XTRIM MAXLEN ~) and <prefix>trimmed_lsn raised; 0 keeps "
                            "every entry.", &settings.stream_max_entries, 1000000, 0, INT_MAX, PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("livesync.stream_max_age", "How long the change stream keeps an entry.",
                            "Entries written longer ago are trimmed and <prefix>trimmed_lsn raised; 0 keeps them "
                            "regardless of age.", &settings.stream_max_age_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("livesync.redis_min_replicas",
                            "Redis replicas that must have a batch (WAIT) before the slot moves past it.",
                            "0 trusts the Redis primary alone.", &settings.redis_min_replicas, 0, 0, 64, PGC_SIGHUP,
                            0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("livesync.claims", "Token claims (a JSON object) that livesync.claim() reads.",
                               "livesyncd evaluates filters itself; set this to evaluate one in SQL.",
                               &settings.claims, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("livesync");
}

void register_replicator() {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = 5;
    snprintf(worker.bgw_library_name, BGW_MAXLEN, "livesync");
    snprintf(worker.bgw_function_name, BGW_MAXLEN, "livesync_replicator_main");
    snprintf(worker.bgw_name, BGW_MAXLEN, "livesync replicator");
    snprintf(worker.bgw_type, BGW_MAXLEN, "livesync replicator");
    RegisterBackgroundWorker(&worker);
}
}  // namespace

WorkerState *worker_state() { return state; }

}  // namespace livesync::extension

void _PG_init(void) {
    using namespace livesync::extension;
    // Loaded later (CREATE EXTENSION, a slot using the plugin, LOAD) the module could not
    // define its PGC_POSTMASTER settings, nor have shared memory or its worker: Postgres
    // would end the session with FATAL. Refuse with an ERROR that says what to do. A
    // preloaded module is inherited by every backend and never runs _PG_init there.
    if (!process_shared_preload_libraries_in_progress)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("livesync must be loaded via shared_preload_libraries"),
                        errhint("Add livesync to shared_preload_libraries (and to output_plugin_libraries) in "
                                "postgresql.conf, e.g. shared_preload_libraries = 'livesync', then restart "
                                "the server.")));
    define_gucs();
    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = request_shmem;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
    register_replicator();
    install_config_drop_hook();
}
