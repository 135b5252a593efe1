#include "change_encoder.hpp"
#include "value_encoder.hpp"

#include "common/change_batch.hpp"

extern "C" {
#include "access/detoast.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"
}

namespace livesync::extension::plugin {

int append_to_stringinfo(void *data, const char *buf, size_t len) {
    appendBinaryStringInfo(static_cast<StringInfo>(data), buf, static_cast<int>(len));
    return 0;
}

namespace {

void pack_cstring(msgpack_packer *pk, const char *s) {
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

bool is_unchanged_toast(Form_pg_attribute attr, Datum value, bool isnull) {
    return !isnull && attr->attlen == -1 && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value));
}

// Packs {column: value} for the columns of `tuple` selected by `only` (nullptr: all).
// Unchanged TOASTed columns are left out and, when `unchanged` is given, listed there.
void pack_tuple(msgpack_packer *pk, TupleDesc desc, HeapTuple tuple, Bitmapset *only, List **unchanged) {
    int natts = desc->natts;
    Datum *values = static_cast<Datum *>(palloc(natts * sizeof(Datum)));
    bool *nulls = static_cast<bool *>(palloc(natts * sizeof(bool)));
    heap_deform_tuple(tuple, desc, values, nulls);

    uint32_t count = 0;
    for (int i = 0; i < natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(desc, i);
        if (attr->attisdropped || attr->attnum <= 0) continue;
        if (only && !bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, only)) continue;
        if (is_unchanged_toast(attr, values[i], nulls[i])) {
            if (unchanged) *unchanged = lappend(*unchanged, NameStr(attr->attname));
            continue;
        }
        ++count;
    }
    msgpack_pack_map(pk, count);
    for (int i = 0; i < natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(desc, i);
        if (attr->attisdropped || attr->attnum <= 0) continue;
        if (only && !bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, only)) continue;
        if (is_unchanged_toast(attr, values[i], nulls[i])) continue;
        pack_cstring(pk, NameStr(attr->attname));
        if (nulls[i]) msgpack_pack_nil(pk);
        else pack_value(pk, attr->atttypid, values[i]);
    }
}

}  // namespace

bool encode_change(msgpack_packer *pk, Relation relation, ReorderBufferChange *change, Bitmapset *columns) {
    char op;
    HeapTuple new_tuple = nullptr, old_tuple = nullptr;
    switch (change->action) {
        case REORDER_BUFFER_CHANGE_INSERT: op = 'i'; break;
        case REORDER_BUFFER_CHANGE_UPDATE: op = 'u'; break;
        case REORDER_BUFFER_CHANGE_DELETE: op = 'd'; break;
        default: return false;
    }
    if (change->data.tp.newtuple) new_tuple = &change->data.tp.newtuple->tuple;
    if (change->data.tp.oldtuple) old_tuple = &change->data.tp.oldtuple->tuple;
    if (op != 'd' && new_tuple == nullptr) return false;

    TupleDesc desc = RelationGetDescr(relation);
    // The old tuple carries the replica identity (all columns under REPLICA IDENTITY
    // FULL); under DEFAULT/INDEX only the key columns are meaningful, the rest are NULL.
    // Columns outside the published column list never leave Postgres; publish() makes
    // sure the list holds the identity columns.
    Bitmapset *identity = columns;
    if (old_tuple && relation->rd_rel->relreplident != REPLICA_IDENTITY_FULL) {
        identity = RelationGetIdentityKeyBitmap(relation);
        if (columns) identity = bms_intersect(identity, columns);
    }

    uint32_t keys = 3 + (new_tuple ? 1 : 0) + (old_tuple ? 1 : 0);
    List *unchanged = NIL;
    // "unchanged" is only known after the new tuple was walked; it is packed after the
    // map with an exact key count, so count it up front.
    if (new_tuple && op == 'u') {
        Datum *values = static_cast<Datum *>(palloc(desc->natts * sizeof(Datum)));
        bool *nulls = static_cast<bool *>(palloc(desc->natts * sizeof(bool)));
        heap_deform_tuple(new_tuple, desc, values, nulls);
        for (int i = 0; i < desc->natts; ++i) {
            Form_pg_attribute attr = TupleDescAttr(desc, i);
            if (!attr->attisdropped && is_unchanged_toast(attr, values[i], nulls[i]) &&
                (columns == nullptr || bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, columns))) {
                ++keys;
                break;
            }
        }
    }
    msgpack_pack_map(pk, keys);
    pack_cstring(pk, "op");
    msgpack_pack_str_with_body(pk, &op, 1);
    pack_cstring(pk, "schema");
    pack_cstring(pk, get_namespace_name(RelationGetNamespace(relation)));
    pack_cstring(pk, "table");
    pack_cstring(pk, RelationGetRelationName(relation));
    if (new_tuple) {
        pack_cstring(pk, "new");
        pack_tuple(pk, desc, new_tuple, columns, &unchanged);
    }
    if (old_tuple) {
        pack_cstring(pk, "old");
        pack_tuple(pk, desc, old_tuple, identity, nullptr);
    }
    if (unchanged != NIL) {
        pack_cstring(pk, "unchanged");
        msgpack_pack_array(pk, list_length(unchanged));
        ListCell *lc;
        foreach (lc, unchanged)
            pack_cstring(pk, static_cast<const char *>(lfirst(lc)));
    }
    return true;
}

void encode_row(msgpack_packer *pk, TupleDesc desc, HeapTuple tuple) {
    Datum *values = static_cast<Datum *>(palloc(desc->natts * sizeof(Datum)));
    bool *nulls = static_cast<bool *>(palloc(desc->natts * sizeof(bool)));
    heap_deform_tuple(tuple, desc, values, nulls);
    encode_row_values(pk, desc, values, nulls);
}

void encode_row_values(msgpack_packer *pk, TupleDesc desc, Datum *values, bool *nulls) {
    uint32_t count = 0;
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(desc, i);
        if (!attr->attisdropped && attr->attnum > 0) ++count;
    }
    msgpack_pack_map(pk, count);
    for (int i = 0; i < desc->natts; ++i) {
        Form_pg_attribute attr = TupleDescAttr(desc, i);
        if (attr->attisdropped || attr->attnum <= 0) continue;
        pack_cstring(pk, NameStr(attr->attname));
        if (nulls[i]) {
            msgpack_pack_nil(pk);
            continue;
        }
        Datum value = values[i];
        // A row read by a scan may point into TOAST (or be an expanded datum): the value
        // itself is packed, as the insert that stored it carried it.
        if (attr->attlen == -1 && VARATT_IS_EXTERNAL(DatumGetPointer(value)))
            value = PointerGetDatum(detoast_external_attr(reinterpret_cast<struct varlena *>(DatumGetPointer(value))));
        pack_value(pk, attr->atttypid, value);
    }
}

void encode_truncate_header(msgpack_packer *pk, int count, bool cascade, bool restart_identity) {
    msgpack_pack_map(pk, 4);
    pack_cstring(pk, "op");
    pack_cstring(pk, "t");
    pack_cstring(pk, "cascade");
    cascade ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    pack_cstring(pk, "restart_identity");
    restart_identity ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    pack_cstring(pk, "relations");
    msgpack_pack_array(pk, count);
}

void encode_relation_name(msgpack_packer *pk, Relation relation) {
    msgpack_pack_array(pk, 2);
    pack_cstring(pk, get_namespace_name(RelationGetNamespace(relation)));
    pack_cstring(pk, RelationGetRelationName(relation));
}

void encode_relation_name(msgpack_packer *pk, const char *schema, const char *table) {
    msgpack_pack_array(pk, 2);
    pack_cstring(pk, schema);
    pack_cstring(pk, table);
}

void encode_message(msgpack_packer *pk, const char *channel, size_t channel_len, const char *payload,
                    size_t payload_len) {
    msgpack_pack_map(pk, 3);
    pack_cstring(pk, "op");
    pack_cstring(pk, "m");
    pack_cstring(pk, "channel");
    msgpack_pack_str_with_body(pk, channel, channel_len);
    pack_cstring(pk, "payload");
    msgpack_pack_ext(pk, payload_len, livesync::common::kExtJson);
    msgpack_pack_ext_body(pk, payload, payload_len);
}

bool encode_schema_message(msgpack_packer *pk, const char *content, size_t size) {
    // NUL-separated fields, none empty: schema, table, then a name and a type per column.
    if (size == 0 || content[0] == '\0' || content[size - 1] == '\0') return false;
    size_t fields = 1;
    for (size_t i = 1; i < size; ++i) {
        if (content[i] != '\0') continue;
        if (content[i - 1] == '\0') return false;
        ++fields;
    }
    if (fields < 2 || fields % 2 != 0) return false;
    const char *p = content, *end = content + size;
    auto pack_next_field = [&] {
        const char *nul = static_cast<const char *>(memchr(p, '\0', end - p));
        const char *stop = nul ? nul : end;
        msgpack_pack_str_with_body(pk, p, stop - p);
        p = nul ? nul + 1 : end;
    };
    msgpack_pack_map(pk, 4);
    pack_cstring(pk, "op");
    pack_cstring(pk, "s");
    pack_cstring(pk, "schema");
    pack_next_field();
    pack_cstring(pk, "table");
    pack_next_field();
    pack_cstring(pk, "columns");
    msgpack_pack_array(pk, static_cast<uint32_t>((fields - 2) / 2));
    for (size_t i = 2; i < fields; i += 2) {
        msgpack_pack_array(pk, 2);
        pack_next_field();
        pack_next_field();
    }
    return true;
}

}  // namespace livesync::extension::plugin
