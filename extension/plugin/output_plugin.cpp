// The `livesync` output plugin: a table of callbacks. Options are parsed once in
// startup; each change is encoded in a memory context reset after it.
//
// Binary output (default), one message per callback, each a tag byte + msgpack:
//   'B' [lsn, xid, commit_unix_usec]   before the first emitted change of a transaction
//   'C' change map                     a change of a published table, a TRUNCATE of
//                                      published tables, a livesync.notify message, or
//                                      a schema change (DDL) of a published table
//   'K' change map                     a change of livesync.tables (sync config)
//   'E' [lsn]                          commit of a transaction that emitted changes
// Transactions that touch no published table emit nothing at all.
//
// Option format 'json' renders the same messages as JSON text (for pg_regress and for
// people reading a slot with pg_logical_slot_get_changes); include_txn_info '0' leaves
// out xids, LSNs and times so the output is stable.
#include "change_encoder.hpp"
#include "common/batch_writer.hpp"
#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "extension/pg_guard.hpp"
#include "published_tables.hpp"

extern "C" {
#include "commands/defrem.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "fmgr.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks *cb);
}

#include <stdexcept>
#include <string>

namespace livesync::extension::plugin {

namespace {

namespace common = livesync::common;

struct PluginState {
    MemoryContext change_context;
    bool json;
    bool include_txn_info;
    bool txn_begun;  // 'B' already written for the current transaction
    StringInfo scratch;
    StringInfo chunk;  // binary format: changes not yet written, as kTagChanges records
};

PluginState *state_of(LogicalDecodingContext *ctx) { return static_cast<PluginState *>(ctx->output_plugin_private); }

bool parse_bool_option(DefElem *elem) {
    if (elem->arg == nullptr) return true;
    bool value = false;
    if (!parse_bool(strVal(elem->arg), &value))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("livesync: option \"%s\" must be a boolean, not \"%s\"", elem->defname,
                               strVal(elem->arg))));
    return value;
}

void startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt, bool) {
    auto *st = static_cast<PluginState *>(palloc0(sizeof(PluginState)));
    st->change_context = AllocSetContextCreate(ctx->context, "livesync change", ALLOCSET_DEFAULT_SIZES);
    st->include_txn_info = true;
    st->scratch = makeStringInfo();
    st->chunk = makeStringInfo();
    ListCell *lc;
    foreach (lc, ctx->output_plugin_options) {
        DefElem *elem = static_cast<DefElem *>(lfirst(lc));
        if (strcmp(elem->defname, "format") == 0) {
            const char *format = elem->arg ? strVal(elem->arg) : "";
            if (strcmp(format, "json") == 0) st->json = true;
            else if (strcmp(format, "msgpack") != 0)
                ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                                errmsg("livesync: unknown format \"%s\"", format),
                                errhint("Use 'msgpack' (the default) or 'json'.")));
        } else if (strcmp(elem->defname, "include_txn_info") == 0) {
            st->include_txn_info = parse_bool_option(elem);
        } else {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("livesync: unknown option \"%s\"", elem->defname),
                            errhint("Known options: format, include_txn_info.")));
        }
    }
    opt->output_type = st->json ? OUTPUT_PLUGIN_TEXTUAL_OUTPUT : OUTPUT_PLUGIN_BINARY_OUTPUT;
    opt->receive_rewrites = false;
    ctx->output_plugin_private = st;
}

void shutdown(LogicalDecodingContext *ctx) {
    PluginState *st = state_of(ctx);
    if (st) MemoryContextDelete(st->change_context);
}

// Writes the transaction's 'B' message if it was not written yet.
void write_begin(LogicalDecodingContext *ctx, ReorderBufferTXN *txn) {
    PluginState *st = state_of(ctx);
    if (st->txn_begun) return;
    st->txn_begun = true;
    OutputPluginPrepareWrite(ctx, false);
    int64 unix_usec = common::pg_timestamp_to_unix_usec(txn->xact_time.commit_time);
    if (st->json) {
        if (!st->include_txn_info) {
            appendStringInfoString(ctx->out, "{\"type\":\"begin\"}");
        } else {
            std::string line = guard_cpp("begin", [&] {
                std::string out = "{\"type\":\"begin\",\"lsn\":\"" + common::format_lsn(txn->end_lsn) +
                                  "\",\"xid\":" + std::to_string(txn->xid) + ",\"commit_time\":";
                common::append_timestamp_json(out, unix_usec / 1000000, (unix_usec % 1000000) * 1000);
                out += '}';
                return out;
            });
            appendBinaryStringInfo(ctx->out, line.data(), static_cast<int>(line.size()));
        }
    } else {
        appendStringInfoChar(ctx->out, common::kTagBegin);
        msgpack_packer pk;
        msgpack_packer_init(&pk, ctx->out, append_to_stringinfo);
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, txn->end_lsn);
        msgpack_pack_uint32(&pk, txn->xid);
        msgpack_pack_int64(&pk, unix_usec);
    }
    OutputPluginWrite(ctx, false);
}

void begin(LogicalDecodingContext *ctx, ReorderBufferTXN *) { state_of(ctx)->txn_begun = false; }

// Writes the changes gathered in st->chunk as one kTagChanges message.
void flush_chunk(LogicalDecodingContext *ctx, bool last_write) {
    PluginState *st = state_of(ctx);
    if (st->chunk->len == 0) return;
    OutputPluginPrepareWrite(ctx, last_write);
    appendStringInfoChar(ctx->out, common::kTagChanges);
    appendBinaryStringInfo(ctx->out, st->chunk->data, st->chunk->len);
    OutputPluginWrite(ctx, last_write);
    resetStringInfo(st->chunk);
}

void commit(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr) {
    PluginState *st = state_of(ctx);
    if (!st->txn_begun) return;
    st->txn_begun = false;
    flush_chunk(ctx, false);
    OutputPluginPrepareWrite(ctx, true);
    if (st->json) {
        if (st->include_txn_info)
            appendStringInfo(ctx->out, "{\"type\":\"commit\",\"lsn\":\"%s\"}",
                             common::format_lsn(txn->end_lsn).c_str());
        else
            appendStringInfoString(ctx->out, "{\"type\":\"commit\"}");
    } else {
        appendStringInfoChar(ctx->out, common::kTagCommit);
        msgpack_packer pk;
        msgpack_packer_init(&pk, ctx->out, append_to_stringinfo);
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, txn->end_lsn);
    }
    OutputPluginWrite(ctx, true);
}

void append_change_as_json(StringInfo out, const StringInfo msgpack, Publication publication) {
    std::string line = guard_cpp("json rendering", [&] {
        std::string json = publication == Publication::Config ? "{\"type\":\"config\",\"change\":"
                                                              : "{\"type\":\"change\",\"change\":";
        std::string error;
        if (!common::change_msgpack_to_json(std::string_view(msgpack->data, msgpack->len), json, &error))
            throw std::runtime_error("cannot render change: " + error);
        json += '}';
        return json;
    });
    appendBinaryStringInfo(out, line.data(), static_cast<int>(line.size()));
}

// Emits the change map in st->scratch: gathered into the chunk (binary format), or as
// one message of its own (JSON, and K for the sync config, after the chunk so far).
void write_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Publication publication) {
    PluginState *st = state_of(ctx);
    write_begin(ctx, txn);
    if (!st->json && publication == Publication::Published) {
        uint32 len = static_cast<uint32>(st->scratch->len);
        char header[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                          static_cast<char>(len)};
        appendBinaryStringInfo(st->chunk, header, 4);
        appendBinaryStringInfo(st->chunk, st->scratch->data, st->scratch->len);
        if (static_cast<size_t>(st->chunk->len) >= common::kChangeChunkBytes) flush_chunk(ctx, true);
        return;
    }
    flush_chunk(ctx, false);
    OutputPluginPrepareWrite(ctx, true);
    if (st->json) {
        append_change_as_json(ctx->out, st->scratch, publication);
    } else {
        appendStringInfoChar(ctx->out, publication == Publication::Config ? common::kTagConfig : common::kTagChange);
        appendBinaryStringInfo(ctx->out, st->scratch->data, st->scratch->len);
    }
    OutputPluginWrite(ctx, true);
}

msgpack_packer scratch_packer(PluginState *st) {
    resetStringInfo(st->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, st->scratch, append_to_stringinfo);
    return pk;
}

void change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, Relation relation, ReorderBufferChange *change) {
    PluginState *st = state_of(ctx);
    Bitmapset *columns = nullptr;
    Publication publication = publication_of(relation, &columns);
    if (publication == Publication::None) return;

    MemoryContext old = MemoryContextSwitchTo(st->change_context);
    msgpack_packer pk = scratch_packer(st);
    if (encode_change(&pk, relation, change, columns)) write_change(ctx, txn, publication);
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_context);
    // The decoding snapshot of the next change already includes this config change.
    if (publication == Publication::Config) forget_publications();
}

// One TRUNCATE statement: one "t" change naming the published tables it emptied (and,
// separately, a K change when it emptied livesync.tables itself).
void truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, int nrelations, Relation relations[],
              ReorderBufferChange *change) {
    PluginState *st = state_of(ctx);
    MemoryContext old = MemoryContextSwitchTo(st->change_context);
    bool config_truncated = false;
    for (Publication wanted : {Publication::Published, Publication::Config}) {
        int count = 0;
        for (int i = 0; i < nrelations; ++i)
            if (publication_of(relations[i]) == wanted) ++count;
        if (count == 0) continue;
        config_truncated = config_truncated || wanted == Publication::Config;
        msgpack_packer pk = scratch_packer(st);
        encode_truncate_header(&pk, count, change->data.truncate.cascade, change->data.truncate.restart_seqs);
        for (int i = 0; i < nrelations; ++i)
            if (publication_of(relations[i]) == wanted) encode_relation_name(&pk, relations[i]);
        write_change(ctx, txn, wanted);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_context);
    if (config_truncated) forget_publications();
}

// livesync.notify(): a transactional logical message with prefix "livesync" and content
// "<channel>\0<payload JSON>", emitted as an "m" change in its transaction's place.
void message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, XLogRecPtr, bool transactional,
             const char *prefix, Size size, const char *content) {
    if (!transactional) return;
    PluginState *st = state_of(ctx);
    if (strcmp(prefix, common::kConfigResetPrefix) == 0) {
        // The config tables are being dropped (extension/config_drop.cpp): from here
        // the config is empty, exactly as a TRUNCATE of both would leave it.
        MemoryContext old = MemoryContextSwitchTo(st->change_context);
        msgpack_packer pk = scratch_packer(st);
        encode_truncate_header(&pk, 2, false, false);
        encode_relation_name(&pk, "livesync", "tables");
        encode_relation_name(&pk, "livesync", "rules");
        write_change(ctx, txn, Publication::Config);
        MemoryContextSwitchTo(old);
        MemoryContextReset(st->change_context);
        forget_publications();
        return;
    }
    if (strcmp(prefix, common::kSchemaMessagePrefix) == 0) {
        // The DDL event trigger's note that a published table changed shape: an "s"
        // change in its place in the transaction, so clients learn of it before any row
        // of the new shape.
        MemoryContext old = MemoryContextSwitchTo(st->change_context);
        msgpack_packer pk = scratch_packer(st);
        if (encode_schema_message(&pk, content, size)) write_change(ctx, txn, Publication::Published);
        else
            ereport(WARNING, (errmsg("livesync: skipped a malformed \"%s\" logical message", prefix),
                              errdetail("Its content must be <schema>\\0<table> followed by \\0<column>\\0<type> "
                                        "per column, no field empty."),
                              errhint("Schema changes are emitted by livesync's DDL event trigger "
                                      "(livesync.emit_schema).")));
        MemoryContextSwitchTo(old);
        MemoryContextReset(st->change_context);
        return;
    }
    if (strcmp(prefix, common::kMessagePrefix) != 0) return;
    const char *nul = static_cast<const char *>(memchr(content, '\0', size));
    if (nul == nullptr || nul == content) {
        ereport(WARNING, (errmsg("livesync: skipped a \"%s\" logical message without a channel", prefix),
                          errhint("Send notifications with livesync.notify(channel, payload).")));
        return;
    }
    MemoryContext old = MemoryContextSwitchTo(st->change_context);
    size_t channel_len = nul - content;
    size_t payload_len = size - channel_len - 1;
    char *payload = pnstrdup(nul + 1, payload_len);
    JsonLexContext *lex = makeJsonLexContextCstringLen(payload, static_cast<int>(payload_len), PG_UTF8, false);
    if (payload_len == 0 || pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS) {
        ereport(WARNING, (errmsg("livesync: skipped a notification on channel \"%.*s\" whose payload is not JSON",
                                 static_cast<int>(channel_len), content),
                          errhint("Send notifications with livesync.notify(channel, payload).")));
    } else {
        msgpack_packer pk = scratch_packer(st);
        encode_message(&pk, content, channel_len, payload, payload_len);
        write_change(ctx, txn, Publication::Published);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(st->change_context);
}

}  // namespace
}  // namespace livesync::extension::plugin

void _PG_output_plugin_init(OutputPluginCallbacks *cb) {
    using namespace livesync::extension::plugin;
    cb->startup_cb = startup;
    cb->begin_cb = begin;
    cb->change_cb = change;
    cb->truncate_cb = truncate;
    cb->message_cb = message;
    cb->commit_cb = commit;
    cb->shutdown_cb = shutdown;
}
