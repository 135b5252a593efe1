// Reading a column of a config table's row (livesync.sync_config, livesync.rules) as the
// stream carries it: shared by the rule set and the published tables.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/change_batch.hpp"

namespace livesync::rules {

inline const common::Value *column_value(const std::vector<common::Column> &cols, std::string_view name) {
    for (const common::Column &c : cols)
        if (c.name == name) return &c.value;
    return nullptr;
}

// The column's text, or nothing when it is missing, NULL or not text.
inline std::optional<std::string> text_column(const std::vector<common::Column> &cols, std::string_view name) {
    const common::Value *v = column_value(cols, name);
    if (v == nullptr || v->kind != common::Value::Kind::Text) return std::nullopt;
    return v->s;
}

}  // namespace livesync::rules
