// stream/: reading the Redis change stream and fanning its transactions out.
// PublishedTables is the set of tables clients may subscribe to: loaded from the
// "<prefix>tables" hash when the reader (re)starts (the replicator updates it in the
// same MULTI/EXEC as the XADD that carries the change), then kept current by the config
// changes (rows of livesync.tables) that travel in the stream at their exact LSN.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/rules/access.hpp"

namespace livesync::rules {

class PublishedTables {
public:
    // Reads the hash's fields: "schema.table" -> {"schema":"public","table":"items",
    // "tenant_column":"tenant_id"|null,"columns":["id",..]|null} (the last two optional).
    static std::optional<PublishedTables> from_hash(const std::vector<std::pair<std::string, std::string>> &fields,
                                                    std::string *error);

    // A row of livesync.tables or livesync.rules: config, never forwarded to clients.
    static bool is_config_change(const common::Change &change);
    // A row of livesync.tables, or a TRUNCATE that emptied it (what apply() takes).
    static bool is_table_change(const common::Change &change);

    // Applies one config change (see is_config_change): insert/update publish the table
    // named by "new", delete (and an update that renamed the row) unpublish "old", a
    // TRUNCATE of livesync.tables unpublishes everything.
    void apply(const common::Change &change);

    bool contains(const std::string &qualified_table) const { return tables_.count(qualified_table) != 0; }
    // Listed but disabled by a schema change (its tenant column was dropped): not
    // published, and its subscriptions end with reason schema_changed.
    bool disabled(const std::string &qualified_table) const { return disabled_.count(qualified_table) != 0; }
    size_t size() const { return tables_.size(); }
    const std::set<std::string> &tables() const { return tables_; }
    // The table's tenant column and column list; nullptr when not published.
    const rules::TableScope *scope(const std::string &qualified_table) const;

private:
    std::set<std::string> tables_;
    std::map<std::string, rules::TableScope> scopes_;
    std::set<std::string> disabled_;
};

}  // namespace livesync::rules
