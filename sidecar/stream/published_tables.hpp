// stream/: reading the Redis change stream and fanning its transactions out.
// PublishedTables is the set of tables clients may subscribe to: loaded from the
// "<prefix>tables" hash when the reader (re)starts (the replicator updates it in the
// same MULTI/EXEC as the XADD that carries the change), then kept current by the config
// changes (rows of livesync.tables) that travel in the stream at their exact LSN.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/change_batch.hpp"

namespace livesync::stream {

class PublishedTables {
public:
    // Reads the hash's fields: "schema.table" -> {"schema":"public","table":"items"}.
    static std::optional<PublishedTables> from_hash(const std::vector<std::pair<std::string, std::string>> &fields,
                                                    std::string *error);

    // A row of livesync.tables: config, never forwarded to clients.
    static bool is_config_change(const common::Change &change);

    // Applies one config change (see is_config_change): insert/update publish the table
    // named by "new", delete (and an update that renamed the row) unpublish "old".
    void apply(const common::Change &change);

    bool contains(const std::string &qualified_table) const { return tables_.count(qualified_table) != 0; }
    size_t size() const { return tables_.size(); }
    const std::set<std::string> &tables() const { return tables_; }

private:
    std::set<std::string> tables_;
};

}  // namespace livesync::stream
