// sql_api/: SQL-callable functions written in C++. Most of the SQL API is SQL in
// sql/livesync--*.sql; only what needs the replicator's shared memory lives here.
#include "extension/livesync.hpp"

extern "C" {
#include "fmgr.h"
#include "funcapi.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(livesync_worker_state);
}

using livesync::extension::WorkerState;

extern "C" Datum livesync_worker_state(PG_FUNCTION_ARGS) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("livesync.worker_state must return a record")));
    desc = BlessTupleDesc(desc);
    WorkerState *st = livesync::extension::worker_state();
    if (st == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("livesync is not loaded through shared_preload_libraries"),
                        errhint("Add livesync to shared_preload_libraries in postgresql.conf and restart.")));
    Datum values[9];
    bool nulls[9] = {false};
    values[0] = Int32GetDatum(static_cast<int32>(pg_atomic_read_u32(&st->pid)));
    values[1] = BoolGetDatum(pg_atomic_read_u32(&st->redis_connected) != 0);
    values[2] = BoolGetDatum(pg_atomic_read_u32(&st->slot_connected) != 0);
    values[3] = LSNGetDatum(pg_atomic_read_u64(&st->published_lsn));
    values[4] = LSNGetDatum(pg_atomic_read_u64(&st->confirmed_lsn));
    uint64 commit_time = pg_atomic_read_u64(&st->last_commit_time);
    values[5] = TimestampTzGetDatum(static_cast<TimestampTz>(commit_time));
    nulls[5] = commit_time == 0;
    values[6] = Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&st->batches_published)));
    values[7] = Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&st->changes_published)));
    values[8] = Int64GetDatum(static_cast<int64>(pg_atomic_read_u64(&st->bytes_published)));
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
