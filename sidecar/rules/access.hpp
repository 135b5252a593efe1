// What one subscription of one session may see of one change (guarantee 4: default
// deny). A row is visible when all hold:
//   - the table has a rule for the session's role,
//   - the table's tenant column (if it has one) equals the tenant claim as text (no
//     claim, a NULL or a non-text value: deny),
//   - the rule's filter is TRUE for the row and the session's claims,
//   - the subscription's own filter (if any) is TRUE for the row's visible columns.
// Columns sent = table columns ∩ rule columns ∩ subscription columns (each optional).
// An update is judged on its old row (when the change carries one) and its new row:
// visible→visible is an update, visible→invisible a delete of the old row's visible
// columns, invisible→visible an insert of the new row. Pure: no lws, no Redis.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/change_batch.hpp"
#include "common/filter_tree.hpp"
#include "sidecar/rules/identity.hpp"
#include "sidecar/rules/rule_set.hpp"

namespace livesync::rules {

// A claim or column value as the text the tenant check compares: text, uuid, numeric
// and integers by their text form; anything else (null, floats, JSON...) → nullopt.
std::optional<std::string> value_text(const common::Value &value);

// A published table's own scope (livesync.publish): tenant column and column list.
struct TableScope {
    std::optional<std::string> tenant_column;
    std::optional<std::vector<std::string>> columns;  // sorted; nullopt: all columns
};

// A client's narrowing of one subscription; never widens what the rule allows.
struct SubscriptionScope {
    std::optional<common::FilterNode> filter;         // may not read claims
    std::optional<std::vector<std::string>> columns;  // sorted; nullopt: all visible
    std::string key;                                  // canonical form, for audience keys
};

// Builds a scope, checking that the filter reads no claim and only columns in
// `visible` (so a subscription filter cannot probe hidden columns). nullopt + *error
// otherwise.
std::optional<SubscriptionScope> make_subscription_scope(std::optional<common::FilterNode> filter,
                                                         std::optional<std::vector<std::string>> columns,
                                                         const std::optional<std::vector<std::string>> &visible,
                                                         std::string *error);

// Everything that decides one subscription's view of one table.
struct Viewer {
    const TableScope *table = nullptr;     // nullptr: not published → deny
    const Rule *rule = nullptr;            // nullptr: no rule for the role → deny
    const Identity *identity = nullptr;    // nullptr: unauthenticated → deny
    const SubscriptionScope *scope = nullptr;
};

// Whether identity may listen to a livesync.notify channel: its token's claim
// `claim` (default "channels") is a string or an array of strings, each a channel name
// or a prefix pattern ending in '*' ("org:42:*"; "*" alone: every channel). No claim,
// anonymous sessions, or anything else in the claim: deny.
bool channel_allowed(const Identity &identity, const std::string &claim, std::string_view channel);

// a ∩ b of sorted column lists (nullopt = all).
std::optional<std::vector<std::string>> intersect_columns(const std::optional<std::vector<std::string>> &a,
                                                          const std::optional<std::vector<std::string>> &b);

// The columns a viewer gets (table ∩ rule ∩ subscription); nullopt: all.
std::optional<std::vector<std::string>> visible_columns(const Viewer &viewer);

// Whether the row (all its columns, as decoded) is visible to viewer.
bool row_visible(const std::vector<common::Column> &row, const Viewer &viewer,
                 const std::optional<std::vector<std::string>> &visible);

enum class Shown : char { Hidden = 0, Insert = 'i', Update = 'u', Delete = 'd' };

// How an insert, update or delete appears to viewer (truncate and messages: Hidden).
Shown classify(const common::Change &change, const Viewer &viewer,
               const std::optional<std::vector<std::string>> &visible);

// The change as sent: op per `shown`, values cut to `visible`.
common::Change project(const common::Change &change, Shown shown,
                       const std::optional<std::vector<std::string>> &visible);

// A schema change (DDL on the table) as sent to a viewer of the table: only the columns
// it may see (visible_columns()), nothing about rows, so neither tenant nor filters apply.
common::Change project_schema(const common::Change &change, const std::optional<std::vector<std::string>> &visible);

// A byte string equal for two viewers of the same table whenever they see every change
// the same way: the rule, tenant, the values of the claims the rule reads, the
// subscription scope. Valid while the rules and tables do not change.
std::string viewer_key(const Viewer &viewer);

}  // namespace livesync::rules
