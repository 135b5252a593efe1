// livesync.snapshot_pages(tbl regclass, columns text[], tenant_column text, tenant text,
//                         page_rows int) -> SETOF bytea
//
// A table's rows for a subscription snapshot, a page of up to page_rows rows and about
// 64 KiB per result row: each page is the rows' msgpack {column: value} maps back to back, every map packed
// by encode_row_values(), the code that packs livesync.encode_row() and (through the same
// pack_value) the row of an insert in the stream: one type mapping.
//
// It runs `SELECT <columns> FROM <tbl> [WHERE <tenant_column>::text = <tenant>]` as an SPI
// cursor of the caller (its privileges, row-level security and snapshot apply, as to a
// SELECT it wrote) and fetches each page from it straight into the page through a
// DestReceiver: no composite datum, function call, bytea or protocol message per row.
// A set-returning function in a target list is called once per row its query returns,
// so the table is read at the pace the pages are consumed: livesyncd streams them with
// COPY (SELECT livesync.snapshot_pages(...)) TO STDOUT (FORMAT binary), and a backend
// whose socket is full waits.
//
// Plain C-style code on palloc'd memory (it owns no C++ objects, so an ereport unwinds
// nothing).
#include "extension/plugin/change_encoder.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "tcop/dest.h"
#include "tcop/pquery.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/regproc.h"

PG_FUNCTION_INFO_V1(livesync_snapshot_pages);
}

namespace {

// A page stops at the first row that takes it to this many bytes (or at page_rows rows).
constexpr int kPageBytes = 64 * 1024;

struct PagesState {
    char portal[NAMEDATALEN];
    long page_rows;
    bool done;
    MemoryContext row_context;  // reset after each row
};

struct PageReceiver {
    DestReceiver pub;  // first: the executor sees a DestReceiver
    msgpack_packer pk;
    MemoryContext row_context;
    long rows;
};

bool page_receive(TupleTableSlot *slot, DestReceiver *self) {
    PageReceiver *r = reinterpret_cast<PageReceiver *>(self);
    MemoryContext old = MemoryContextSwitchTo(r->row_context);
    slot_getallattrs(slot);
    livesync::extension::plugin::encode_row_values(&r->pk, slot->tts_tupleDescriptor, slot->tts_values,
                                                   slot->tts_isnull);
    MemoryContextSwitchTo(old);
    MemoryContextReset(r->row_context);
    ++r->rows;
    return true;
}

void page_startup(DestReceiver *, int, TupleDesc) {}
void page_shutdown(DestReceiver *) {}
void page_destroy(DestReceiver *) {}

// The SELECT of the rows: the columns (NULL: all) of tbl, cut to one tenant when
// tenant_column is given ($1 is the tenant).
char *rows_query(Oid relid, ArrayType *columns, text *tenant_column) {
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfoString(&sql, "SELECT ");
    if (columns == nullptr) {
        appendStringInfoChar(&sql, '*');
    } else {
        Datum *names;
        bool *nulls;
        int n;
        deconstruct_array(columns, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &n);
        if (n == 0)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("columns must not be empty"),
                            errhint("Pass NULL for every column.")));
        for (int i = 0; i < n; ++i) {
            if (nulls[i])
                ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("columns must not contain NULL")));
            if (i > 0) appendStringInfoString(&sql, ", ");
            appendStringInfoString(&sql, quote_identifier(TextDatumGetCString(names[i])));
        }
    }
    char *schema = get_namespace_name(get_rel_namespace(relid));
    char *name = get_rel_name(relid);
    if (schema == nullptr || name == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
    appendStringInfo(&sql, " FROM %s", quote_qualified_identifier(schema, name));
    if (tenant_column != nullptr)
        appendStringInfo(&sql, " WHERE %s::text = $1", quote_identifier(text_to_cstring(tenant_column)));
    return sql.data;
}

}  // namespace

extern "C" Datum livesync_snapshot_pages(PG_FUNCTION_ARGS) {
    FuncCallContext *funcctx;
    if (SRF_IS_FIRSTCALL()) {
        funcctx = SRF_FIRSTCALL_INIT();
        if (PG_ARGISNULL(0))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("tbl must not be NULL")));
        int32 page_rows = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
        if (page_rows < 1)
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("page_rows must be at least 1")));
        text *tenant_column = PG_ARGISNULL(2) ? nullptr : PG_GETARG_TEXT_PP(2);
        if (tenant_column != nullptr && PG_ARGISNULL(3))
            ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                            errmsg("tenant must not be NULL when tenant_column is given")));

        MemoryContext old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
        PagesState *state = static_cast<PagesState *>(palloc0(sizeof(PagesState)));
        state->page_rows = page_rows;
        state->row_context = AllocSetContextCreate(funcctx->multi_call_memory_ctx, "livesync snapshot row",
                                                   ALLOCSET_DEFAULT_SIZES);
        char *sql = rows_query(PG_GETARG_OID(0), PG_ARGISNULL(1) ? nullptr : PG_GETARG_ARRAYTYPE_P(1), tenant_column);
        Oid types[1] = {TEXTOID};
        Datum args[1] = {tenant_column ? PG_GETARG_DATUM(3) : Datum(0)};
        if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "SPI_connect failed");
        SPIPlanPtr plan = SPI_prepare_cursor(sql, tenant_column ? 1 : 0, types, CURSOR_OPT_NO_SCROLL);
        if (plan == nullptr) elog(ERROR, "cannot plan the snapshot query: %s", SPI_result_code_string(SPI_result));
        // The portal outlives SPI_finish (until the transaction ends or it is closed).
        Portal portal = SPI_cursor_open(nullptr, plan, args, nullptr, true);
        strlcpy(state->portal, portal->name, NAMEDATALEN);
        SPI_finish();
        funcctx->user_fctx = state;
        MemoryContextSwitchTo(old);
    }
    funcctx = SRF_PERCALL_SETUP();
    PagesState *state = static_cast<PagesState *>(funcctx->user_fctx);
    if (state->done) SRF_RETURN_DONE(funcctx);
    Portal portal = GetPortalByName(state->portal);
    if (!PortalIsValid(portal)) elog(ERROR, "the snapshot cursor \"%s\" is gone", state->portal);

    StringInfoData page;
    initStringInfo(&page);
    // Sized once: regrowing it copies the page, and chunks above glibc's mmap threshold
    // (128 KiB) cost page faults on every page.
    enlargeStringInfo(&page, kPageBytes + (kPageBytes >> 2));
    appendStringInfoSpaces(&page, VARHDRSZ);
    PageReceiver receiver;
    memset(&receiver, 0, sizeof receiver);
    receiver.pub.receiveSlot = page_receive;
    receiver.pub.rStartup = page_startup;
    receiver.pub.rShutdown = page_shutdown;
    receiver.pub.rDestroy = page_destroy;
    receiver.pub.mydest = DestNone;
    receiver.row_context = state->row_context;
    msgpack_packer_init(&receiver.pk, &page, livesync::extension::plugin::append_to_stringinfo);
    // Fetched in steps sized by the rows' width so far, so that the page stops near
    // kPageBytes (a fetch cannot stop early: a short fetch marks the portal at its end).
    while (receiver.rows < state->page_rows && page.len < kPageBytes) {
        long step = state->page_rows - receiver.rows;
        if (receiver.rows > 0) {
            long row_bytes = (page.len - VARHDRSZ) / receiver.rows + 1;
            step = Min(step, (kPageBytes - page.len) / row_bytes + 1);
        } else {
            step = Min(step, 16);
        }
        long before = receiver.rows;
        PortalRunFetch(portal, FETCH_FORWARD, step, &receiver.pub);
        if (receiver.rows - before < step) {
            state->done = true;
            SPI_cursor_close(portal);
            break;
        }
    }
    if (receiver.rows == 0) SRF_RETURN_DONE(funcctx);
    SET_VARSIZE(page.data, page.len);
    SRF_RETURN_NEXT(funcctx, PointerGetDatum(page.data));
}
