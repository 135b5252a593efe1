// plugin/: the `livesync` logical-decoding output plugin. This part answers "is this
// relation published, and which of its columns?" from livesync.tables, read through the decoding snapshot (the
// table is a user_catalog_table), so a publish takes effect at its exact commit LSN.
#pragma once

extern "C" {
#include "postgres.h"

#include "nodes/bitmapset.h"
#include "utils/rel.h"
}

namespace livesync::extension::plugin {

enum class Publication : char {
    None,       // not published: its changes are not emitted
    Published,  // emitted as kTagChange
    Config,     // livesync.tables or livesync.rules: emitted as kTagConfig
};

// Looks the relation up (cached per relation; the cache is dropped on relcache
// invalidation and whenever a change to livesync.tables is decoded). When columns is
// given it gets the published column list as attnum - FirstLowInvalidHeapAttributeNumber
// members, or nullptr when every column is published.
Publication publication_of(Relation relation, Bitmapset **columns = nullptr);

// Call after decoding a change to livesync.tables: later changes see the new config.
void forget_publications();

}  // namespace livesync::extension::plugin
