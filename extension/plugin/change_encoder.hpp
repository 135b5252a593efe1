// Encodes one decoded row change as the msgpack change map of the batch format
// (common/change_batch.hpp), with typed values. Runs in the per-change memory context;
// owns no C++ objects, so a Postgres error inside it unwinds nothing.
#pragma once

extern "C" {
#include "postgres.h"

#include "replication/reorderbuffer.h"
#include "utils/rel.h"
}

#include <msgpack.h>

namespace livesync::extension::plugin {

// Returns false (and writes nothing) for change kinds that carry no row.
// columns: the published columns (attnum - FirstLowInvalidHeapAttributeNumber), nullptr for all.
bool encode_change(msgpack_packer *pk, Relation relation, ReorderBufferChange *change, Bitmapset *columns);

// {column: value} of every column of a whole row (a snapshot row: livesync.encode_row),
// typed exactly as encode_change packs the row of an insert. The tuple holds no
// on-disk TOAST pointers (a composite datum is flattened), so nothing is "unchanged".
void encode_row(msgpack_packer *pk, TupleDesc desc, HeapTuple tuple);
// The same map from deformed values (a snapshot page: livesync.snapshot_pages); values
// pointing into TOAST are fetched. Allocates in the current memory context.
void encode_row_values(msgpack_packer *pk, TupleDesc desc, Datum *values, bool *nulls);

// {"op":"t","relations":[...],"cascade":..,"restart_identity":..}: packs everything
// but the relations, which follow as `count` encode_relation_name() calls.
void encode_truncate_header(msgpack_packer *pk, int count, bool cascade, bool restart_identity);
void encode_relation_name(msgpack_packer *pk, Relation relation);
void encode_relation_name(msgpack_packer *pk, const char *schema, const char *table);

// {"op":"m","channel":..,"payload":ext 2 JSON}; the payload must be valid JSON.
void encode_message(msgpack_packer *pk, const char *channel, size_t channel_len, const char *payload,
                    size_t payload_len);

// {"op":"s","schema":..,"table":..,"columns":[[name,type],...]} from the content of a
// kSchemaMessagePrefix message ("<schema>\0<table>[\0<column>\0<type>]..."). Returns
// false (and packs nothing) when the content is not of that form.
bool encode_schema_message(msgpack_packer *pk, const char *content, size_t size);

// The msgpack packer callback appending to a StringInfo passed as its data pointer.
int append_to_stringinfo(void *data, const char *buf, size_t len);

}  // namespace livesync::extension::plugin
