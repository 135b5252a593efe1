// livesync.encode_row(record) -> bytea
//
// One row as the msgpack {column: value} map the output plugin packs for an insert
// (extension/plugin/change_encoder.hpp), so a snapshot row that livesyncd reads with
// SELECT carries exactly the values an insert of it would have carried in the stream:
// one type mapping, written once. The record's column names are the map's keys (a
// subquery that selects a table's published columns gives their names).
//
// Plain C-style code on palloc'd memory (it owns no C++ objects, so an ereport inside an
// output function unwinds nothing).
#include "extension/plugin/change_encoder.hpp"

extern "C" {
#include "access/htup_details.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(livesync_encode_row);
}

extern "C" Datum livesync_encode_row(PG_FUNCTION_ARGS) {
    HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
    TupleDesc desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(row), HeapTupleHeaderGetTypMod(row));
    HeapTupleData tuple;
    tuple.t_len = HeapTupleHeaderGetDatumLength(row);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    tuple.t_data = row;

    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfoSpaces(&buf, VARHDRSZ);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, livesync::extension::plugin::append_to_stringinfo);
    livesync::extension::plugin::encode_row(&pk, desc, &tuple);
    ReleaseTupleDesc(desc);
    SET_VARSIZE(buf.data, buf.len);
    PG_RETURN_BYTEA_P(reinterpret_cast<bytea *>(buf.data));
}
