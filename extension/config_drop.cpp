// The sync config's end: dropping livesync.tables or livesync.rules (DROP EXTENSION
// livesync, DROP SCHEMA livesync CASCADE) removes their rows without a DELETE the
// decoder could see, so the Redis copies and every sidecar would go on with the rules of
// before. An object-access hook writes a transactional logical message in the dropping
// transaction instead, before the table goes; the output plugin turns it into a config
// change that empties both tables (a TRUNCATE of livesync.tables and livesync.rules), so
// from that transaction's commit LSN every sidecar denies everything and the replicator
// empties the Redis copies (and writes that empty version), in the same MULTI/EXEC as
// the stream entry. A rolled-back DROP takes its message with it. A hook, not an event
// trigger: it belongs to no extension object, so it runs while the extension is being
// dropped, and a disabled event trigger cannot skip it.
#include "livesync.hpp"

#include "common/change_batch.hpp"

extern "C" {
#include "catalog/objectaccess.h"
#include "catalog/pg_class_d.h"
#include "replication/message.h"
#include "utils/lsyscache.h"
}

#include <cstring>

namespace livesync::extension {

namespace {

object_access_hook_type prev_object_access_hook = nullptr;

// Plain C inside: only Postgres calls, nothing with a destructor (an ERROR longjmps
// through it).
void on_object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg) {
    if (prev_object_access_hook) prev_object_access_hook(access, class_id, object_id, sub_id, arg);
    if (access != OAT_DROP || class_id != RelationRelationId || sub_id != 0) return;
    Oid nsp = get_rel_namespace(object_id);
    if (!OidIsValid(nsp)) return;
    char *nspname = get_namespace_name(nsp);
    if (nspname == nullptr || strcmp(nspname, "livesync") != 0) return;
    char *relname = get_rel_name(object_id);
    if (relname == nullptr || (strcmp(relname, "tables") != 0 && strcmp(relname, "rules") != 0)) return;
    LogLogicalMessage(common::kConfigResetPrefix, "", 0, true);
}

}  // namespace

void install_config_drop_hook() {
    prev_object_access_hook = object_access_hook;
    object_access_hook = on_object_access;
}

}  // namespace livesync::extension
