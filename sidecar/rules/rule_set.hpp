// The access rules (livesync.grant): per role and table, the row filter and the
// columns that role may see. Loaded from the "<prefix>rules" hash when the stream
// reader (re)starts, then kept current by the rows of livesync.rules that travel in the
// change stream at their exact LSN, exactly like the published tables. No rule for a
// (role, table): that role sees nothing of the table (default deny). A rule whose
// filter cannot be read is dropped, which also denies.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/change_batch.hpp"
#include "common/filter_tree.hpp"

namespace livesync::rules {

struct Rule {
    std::string role;
    std::string table;  // "schema.table"
    common::FilterNode filter;
    std::optional<std::vector<std::string>> columns;  // sorted; nullopt: every column
    std::vector<std::string> claims_read;             // claim names the filter reads, sorted
};

class RuleSet {
public:
    // Reads the hash's fields: "<role>|<schema>.<table>" -> {"role":..,"schema":..,
    // "table":..,"filter":<filter tree>,"columns":[..]|null}. A bad field is skipped
    // (that rule denies) and described in *errors.
    static RuleSet from_hash(const std::vector<std::pair<std::string, std::string>> &fields,
                             std::vector<std::string> *errors);

    // A row of livesync.rules, or a TRUNCATE that emptied it: config, never forwarded
    // to clients.
    static bool is_rule_change(const common::Change &change);

    // Applies one rule change; false and *error when its new row is unusable (the old
    // rule is removed all the same: deny).
    bool apply(const common::Change &change, std::string *error);

    // The pointer identifies the rule in a fan-out's audience keys (the set does not
    // change while one transaction is fanned out).
    const Rule *find(const std::string &role, const std::string &table) const;
    bool set(Rule rule);
    size_t size() const { return rules_.size(); }
    // A rule a schema change disabled (its filter's column was dropped or retyped): it
    // denies, and the subscriptions it allowed end with reason schema_changed.
    bool disabled(const std::string &role, const std::string &table) const {
        return disabled_.count(std::make_pair(role, table)) != 0;
    }

private:
    std::map<std::pair<std::string, std::string>, std::shared_ptr<const Rule>> rules_;
    std::set<std::pair<std::string, std::string>> disabled_;
};

// The claim names a filter reads, sorted and distinct.
std::vector<std::string> filter_claims(const common::FilterNode &node);

// Parses a columns value ([..] of strings, or null/absent = all) into a sorted list.
bool parse_column_list(const common::Value &value, std::optional<std::vector<std::string>> &out);

}  // namespace livesync::rules
