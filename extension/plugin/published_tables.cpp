#include "published_tables.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

namespace livesync::extension::plugin {

namespace {

struct CacheEntry {
    Oid relid;  // hash key
    Publication publication;
    Bitmapset *columns;  // in cache_context; nullptr: all columns
};

HTAB *cache = nullptr;
MemoryContext cache_context = nullptr;  // holds the hash and the column sets
Oid config_relid = InvalidOid;  // livesync.tables, looked up with the cache
Oid rules_relid = InvalidOid;   // livesync.rules
bool callback_registered = false;

Bitmapset *bms_copy_in(MemoryContext context, const Bitmapset *set) {
    MemoryContext old = MemoryContextSwitchTo(context);
    Bitmapset *copy = bms_copy(set);
    MemoryContextSwitchTo(old);
    return copy;
}

void invalidate(Datum, Oid relid) {
    if (cache == nullptr) return;
    if (relid == InvalidOid) {
        forget_publications();
        return;
    }
    hash_search(cache, &relid, HASH_REMOVE, nullptr);
    // Without the extension (dropped, not created yet) any new relation may be the
    // config table of a CREATE EXTENSION: look it up again.
    if (relid == config_relid || relid == rules_relid || !OidIsValid(config_relid)) forget_publications();
}

// Whether relid is a relation in the catalog as it is now, not as the change being
// decoded saw it. livesync.tables is a user catalog table, and opening one during
// decoding makes Postgres look up its current pg_class row (RelationInitPhysicalAddr):
// a config table dropped since the change was written (DROP EXTENSION, decoded again
// after a restart) would end the walsender with "could not find pg_class entry". Such a
// table counts as no config at all: nothing of those changes is published (deny).
bool exists_now(Oid relid) {
    Relation pg_class = table_open(RelationRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan =
        systable_beginscan(pg_class, ClassOidIndexId, true, GetNonHistoricCatalogSnapshot(RelationRelationId), 1, &key);
    bool found = HeapTupleIsValid(systable_getnext(scan));
    systable_endscan(scan);
    table_close(pg_class, AccessShareLock);
    return found;
}

void ensure_cache() {
    if (cache != nullptr) return;
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(CacheEntry);
    cache_context = AllocSetContextCreate(CacheMemoryContext, "livesync published tables", ALLOCSET_SMALL_SIZES);
    ctl.hcxt = cache_context;
    cache = hash_create("livesync published tables", 128, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    Oid nsp = get_namespace_oid("livesync", true);
    config_relid = OidIsValid(nsp) ? get_relname_relid("tables", nsp) : InvalidOid;
    rules_relid = OidIsValid(nsp) ? get_relname_relid("rules", nsp) : InvalidOid;
    if (OidIsValid(config_relid) && !exists_now(config_relid)) config_relid = InvalidOid;
    if (!callback_registered) {
        CacheRegisterRelcacheCallback(invalidate, (Datum)0);
        callback_registered = true;
    }
}

// A scan of livesync.tables with the catalog snapshot, which during decoding is the
// historic snapshot of the change being decoded. *columns gets the published columns
// (allocated in the current context), nullptr for all.
bool listed_in_config(Oid relid, Bitmapset **columns) {
    Relation config = table_open(config_relid, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, 1 /* relid */, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(config, InvalidOid, false, nullptr, 1, &key);
    HeapTuple row = systable_getnext(scan);
    bool found = HeapTupleIsValid(row);
    *columns = nullptr;
    AttrNumber columns_attnum = get_attnum(config_relid, "columns");
    if (found && columns_attnum != InvalidAttrNumber) {
        bool isnull = false;
        Datum names = heap_getattr(row, columns_attnum, RelationGetDescr(config), &isnull);
        if (!isnull) {
            Datum *elems;
            bool *elem_nulls;
            int count;
            deconstruct_array(DatumGetArrayTypeP(names), TEXTOID, -1, false, TYPALIGN_INT, &elems, &elem_nulls, &count);
            for (int i = 0; i < count; ++i) {
                if (elem_nulls[i]) continue;
                AttrNumber attnum = get_attnum(relid, TextDatumGetCString(elems[i]));
                if (attnum != InvalidAttrNumber)
                    *columns = bms_add_member(*columns, attnum - FirstLowInvalidHeapAttributeNumber);
            }
            // A list naming no live column publishes none rather than all.
            if (*columns == nullptr) *columns = bms_make_singleton(0);
        }
    }
    systable_endscan(scan);
    table_close(config, AccessShareLock);
    return found;
}

}  // namespace

Publication publication_of(Relation relation, Bitmapset **columns) {
    ensure_cache();
    Oid relid = RelationGetRelid(relation);
    bool found = false;
    auto *entry = static_cast<CacheEntry *>(hash_search(cache, &relid, HASH_FIND, &found));
    if (!found) {
        Publication publication = Publication::None;
        Bitmapset *published_columns = nullptr;
        if (OidIsValid(config_relid)) {
            if (relid == config_relid || relid == rules_relid) publication = Publication::Config;
            else if (listed_in_config(relid, &published_columns)) publication = Publication::Published;
        }
        // The scan may have processed invalidations that dropped the cache: enter afresh.
        ensure_cache();
        entry = static_cast<CacheEntry *>(hash_search(cache, &relid, HASH_ENTER, nullptr));
        entry->publication = publication;
        entry->columns = published_columns ? bms_copy_in(cache_context, published_columns) : nullptr;
    }
    if (columns) *columns = entry->columns;
    return entry->publication;
}

void forget_publications() {
    // Deleting the context frees the hash and every column set with it.
    if (cache_context != nullptr) MemoryContextDelete(cache_context);
    cache_context = nullptr;
    cache = nullptr;
    config_relid = InvalidOid;
    rules_relid = InvalidOid;
}

}  // namespace livesync::extension::plugin
