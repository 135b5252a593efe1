#include "published_tables.hpp"

extern "C" {
#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

namespace livesync::extension::plugin {

namespace {

struct CacheEntry {
    Oid relid;  // hash key
    Publication publication;
};

HTAB *cache = nullptr;
Oid config_relid = InvalidOid;  // livesync.tables, looked up with the cache
bool callback_registered = false;

void invalidate(Datum, Oid relid) {
    if (cache == nullptr) return;
    if (relid == InvalidOid) {
        forget_publications();
        return;
    }
    hash_search(cache, &relid, HASH_REMOVE, nullptr);
    if (relid == config_relid) forget_publications();
}

void ensure_cache() {
    if (cache != nullptr) return;
    HASHCTL ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.keysize = sizeof(Oid);
    ctl.entrysize = sizeof(CacheEntry);
    ctl.hcxt = CacheMemoryContext;
    cache = hash_create("livesync published tables", 128, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    Oid nsp = get_namespace_oid("livesync", true);
    config_relid = OidIsValid(nsp) ? get_relname_relid("tables", nsp) : InvalidOid;
    if (!callback_registered) {
        CacheRegisterRelcacheCallback(invalidate, (Datum)0);
        callback_registered = true;
    }
}

// A scan of livesync.tables with the catalog snapshot, which during decoding is the
// historic snapshot of the change being decoded.
bool listed_in_config(Oid relid) {
    Relation config = table_open(config_relid, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, 1 /* relid */, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(config, InvalidOid, false, nullptr, 1, &key);
    bool found = HeapTupleIsValid(systable_getnext(scan));
    systable_endscan(scan);
    table_close(config, AccessShareLock);
    return found;
}

}  // namespace

Publication publication_of(Relation relation) {
    ensure_cache();
    Oid relid = RelationGetRelid(relation);
    bool found = false;
    auto *entry = static_cast<CacheEntry *>(hash_search(cache, &relid, HASH_FIND, &found));
    if (found) return entry->publication;
    Publication publication = Publication::None;
    if (OidIsValid(config_relid)) {
        if (relid == config_relid) publication = Publication::Config;
        else if (listed_in_config(relid)) publication = Publication::Published;
    }
    // The scan may have processed invalidations that dropped the cache: enter afresh.
    ensure_cache();
    entry = static_cast<CacheEntry *>(hash_search(cache, &relid, HASH_ENTER, nullptr));
    entry->publication = publication;
    return publication;
}

void forget_publications() {
    if (cache != nullptr) hash_destroy(cache);
    cache = nullptr;
    config_relid = InvalidOid;
}

}  // namespace livesync::extension::plugin
