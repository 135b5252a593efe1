// The row filter tree: the small language a role rule (livesync.grant) and a client's
// own subscription filter are compiled to. The extension writes it as JSON after
// Postgres parsed and type-checked the SQL expression; livesyncd parses it once and
// evaluates it per row. Evaluation follows SQL's three-valued logic and a row is
// visible only when the filter is TRUE: NULL, a missing claim or an incomparable value
// all deny.
//
// JSON form:
//   node    = {"and":[node,...]} | {"or":[node,...]} | {"not":node} | {"const":bool}
//           | {"cmp":"="|"<>"|"<"|"<="|">"|">=", "type":T, "args":[operand, operand]}
//           | {"in":operand, "type":T, "values":[operand,...]}
//           | {"is_null":operand} | {"not_null":operand}
//   operand = {"col":"name"} | {"claim":"name"} | {"value": string|number|bool|null}
//   T       = "bool" | "int" | "float" | "numeric" | "text" | "uuid"
//             (the type Postgres compared in; both sides are read as that type)
#pragma once

#include "change_batch.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::common {

enum class CompareType { Bool, Int, Float, Numeric, Text, Uuid };

struct FilterOperand {
    enum class Kind { Column, Claim, Constant } kind = Kind::Constant;
    std::string name;  // column or claim name
    Value constant;
};

struct FilterNode {
    enum class Kind { And, Or, Not, Const, Compare, In, IsNull, NotNull } kind = Kind::Const;
    bool constant = true;                   // Const
    std::string op;                         // Compare: "=", "<>", "<", "<=", ">", ">="
    CompareType type = CompareType::Text;   // Compare, In
    std::vector<FilterNode> children;       // And, Or, Not (one)
    std::vector<FilterOperand> operands;    // Compare (2), In (first is the tested one), IsNull (1)
};

// Claims of the client's token, by name.
using Claims = std::map<std::string, Value, std::less<>>;

// Reads the row's columns by name; returns nullptr for a column the row lacks.
class RowView {
public:
    explicit RowView(const std::vector<Column> &columns) : columns_(columns) {}
    const Value *find(std::string_view name) const;

private:
    const std::vector<Column> &columns_;
};

// Parses the JSON form; nullopt and a message naming the bad part otherwise.
std::optional<FilterNode> parse_filter(std::string_view json, std::string *error);

// Serializes back to the JSON form (the extension builds trees with the same types).
std::string filter_to_json(const FilterNode &node);

enum class Truth { False, True, Unknown };

Truth evaluate_filter(const FilterNode &node, const RowView &row, const Claims &claims);

// Convenience: visible only when TRUE.
inline bool filter_allows(const FilterNode &node, const RowView &row, const Claims &claims) {
    return evaluate_filter(node, row, claims) == Truth::True;
}

// The columns a filter reads (so a column list that hides them can be rejected).
void filter_columns(const FilterNode &node, std::vector<std::string> &out);

}  // namespace livesync::common
