#include "sidecar/rules/access.hpp"

#include <algorithm>

#include <rapidjson/document.h>

namespace livesync::rules {

std::optional<std::string> value_text(const common::Value &v) {
    switch (v.kind) {
        case common::Value::Kind::Text:
        case common::Value::Kind::Uuid:
        case common::Value::Kind::Numeric:
        case common::Value::Kind::OtherText: return v.s;
        case common::Value::Kind::Int: return std::to_string(v.i);
        case common::Value::Kind::UInt: return std::to_string(v.u);
        default: return std::nullopt;
    }
}

namespace {

bool pattern_matches(std::string_view pattern, std::string_view channel) {
    if (!pattern.empty() && pattern.back() == '*') {
        pattern.remove_suffix(1);
        return channel.substr(0, pattern.size()) == pattern;
    }
    return pattern == channel;
}

}  // namespace

bool channel_allowed(const Identity &identity, const std::string &claim, std::string_view channel) {
    if (identity.anonymous || channel.empty()) return false;
    auto it = identity.claims.find(claim);
    if (it == identity.claims.end()) return false;
    const common::Value &v = it->second;
    if (v.kind == common::Value::Kind::Text) return pattern_matches(v.s, channel);
    if (v.kind != common::Value::Kind::Json) return false;  // JSON arrays arrive as their text
    rapidjson::Document doc;
    doc.Parse(v.s.data(), v.s.size());
    if (doc.HasParseError() || !doc.IsArray()) return false;
    for (const auto &e : doc.GetArray())
        if (e.IsString() && pattern_matches(std::string_view(e.GetString(), e.GetStringLength()), channel)) return true;
    return false;
}

namespace {

bool is_visible_column(const std::optional<std::vector<std::string>> &visible, const std::string &name) {
    return !visible || std::binary_search(visible->begin(), visible->end(), name);
}

std::vector<common::Column> cut(const std::vector<common::Column> &row,
                                const std::optional<std::vector<std::string>> &visible) {
    if (!visible) return row;
    std::vector<common::Column> out;
    for (const common::Column &c : row)
        if (is_visible_column(visible, c.name)) out.push_back(c);
    return out;
}

// The new row of an update with its unchanged (TOASTed, not sent) columns taken from
// the old row when the change carries it, so filters see the whole row.
std::vector<common::Column> whole_new_row(const common::Change &change) {
    std::vector<common::Column> row = change.new_values;
    for (const std::string &name : change.unchanged) {
        for (const common::Column &c : change.old_values)
            if (c.name == name) {
                row.push_back(c);
                break;
            }
    }
    return row;
}

void collect_columns(const common::FilterNode &n, std::vector<std::string> &out, bool &claims) {
    for (const common::FilterOperand &o : n.operands) {
        if (o.kind == common::FilterOperand::Kind::Column) out.push_back(o.name);
        if (o.kind == common::FilterOperand::Kind::Claim) claims = true;
    }
    for (const common::FilterNode &c : n.children) collect_columns(c, out, claims);
}

}  // namespace

std::optional<std::vector<std::string>> intersect_columns(const std::optional<std::vector<std::string>> &a,
                                                          const std::optional<std::vector<std::string>> &b) {
    if (!a) return b;
    if (!b) return a;
    std::vector<std::string> out;
    std::set_intersection(a->begin(), a->end(), b->begin(), b->end(), std::back_inserter(out));
    return out;
}

std::optional<std::vector<std::string>> visible_columns(const Viewer &v) {
    std::optional<std::vector<std::string>> cols;
    if (v.table) cols = v.table->columns;
    if (v.rule) cols = intersect_columns(cols, v.rule->columns);
    if (v.scope) cols = intersect_columns(cols, v.scope->columns);
    return cols;
}

std::optional<SubscriptionScope> make_subscription_scope(std::optional<common::FilterNode> filter,
                                                         std::optional<std::vector<std::string>> columns,
                                                         const std::optional<std::vector<std::string>> &visible,
                                                         std::string *error) {
    SubscriptionScope scope;
    if (filter) {
        std::vector<std::string> read;
        bool claims = false;
        collect_columns(*filter, read, claims);
        if (claims) {
            *error = "a subscription filter may not read claims";
            return std::nullopt;
        }
        for (const std::string &c : read)
            if (!is_visible_column(visible, c)) {
                *error = "the filter reads column " + c + ", which this role may not see";
                return std::nullopt;
            }
        scope.key = common::filter_to_json(*filter);
        scope.filter = std::move(filter);
    }
    scope.key += '\0';
    if (columns) {
        std::sort(columns->begin(), columns->end());
        columns->erase(std::unique(columns->begin(), columns->end()), columns->end());
        for (const std::string &c : *columns) {
            if (!is_visible_column(visible, c)) {
                *error = "column " + c + " is not visible to this role";
                return std::nullopt;
            }
            scope.key += c;
            scope.key += ',';
        }
        scope.columns = std::move(columns);
    } else {
        scope.key += '*';
    }
    return scope;
}

bool row_visible(const std::vector<common::Column> &row, const Viewer &v,
                 const std::optional<std::vector<std::string>> &visible) {
    if (v.table == nullptr || v.rule == nullptr || v.identity == nullptr) return false;
    common::RowView view(row);
    if (v.table->tenant_column) {
        if (!v.identity->tenant) return false;
        const common::Value *value = view.find(*v.table->tenant_column);
        if (value == nullptr) return false;
        auto text = value_text(*value);
        if (!text || *text != *v.identity->tenant) return false;
    }
    if (!common::filter_allows(v.rule->filter, view, v.identity->claims)) return false;
    if (v.scope && v.scope->filter) {
        // Only what the viewer may see: a filter can never learn a hidden column.
        std::vector<common::Column> shown = cut(row, visible);
        static const common::Claims kNoClaims;
        if (!common::filter_allows(*v.scope->filter, common::RowView(shown), kNoClaims)) return false;
    }
    return true;
}

Shown classify(const common::Change &change, const Viewer &v, const std::optional<std::vector<std::string>> &visible) {
    switch (change.op) {
        case common::Op::Insert: return row_visible(change.new_values, v, visible) ? Shown::Insert : Shown::Hidden;
        case common::Op::Delete: return row_visible(change.old_values, v, visible) ? Shown::Delete : Shown::Hidden;
        case common::Op::Update: {
            bool now = row_visible(change.unchanged.empty() ? change.new_values : whole_new_row(change), v, visible);
            if (change.old_values.empty()) return now ? Shown::Update : Shown::Hidden;
            bool before = row_visible(change.old_values, v, visible);
            if (before && now) return Shown::Update;
            if (before) return Shown::Delete;
            if (now) return Shown::Insert;
            return Shown::Hidden;
        }
        case common::Op::Truncate:
        case common::Op::Message:
        case common::Op::Schema: return Shown::Hidden;
    }
    return Shown::Hidden;
}

common::Change project_schema(const common::Change &change, const std::optional<std::vector<std::string>> &visible) {
    common::Change out;
    out.op = common::Op::Schema;
    out.schema = change.schema;
    out.table = change.table;
    for (const common::ColumnType &c : change.columns)
        if (is_visible_column(visible, c.name)) out.columns.push_back(c);
    return out;
}

common::Change project(const common::Change &change, Shown shown, const std::optional<std::vector<std::string>> &visible) {
    common::Change out;
    out.schema = change.schema;
    out.table = change.table;
    switch (shown) {
        case Shown::Insert:
            out.op = common::Op::Insert;
            out.new_values = cut(change.new_values, visible);
            break;
        case Shown::Update:
            out.op = common::Op::Update;
            out.new_values = cut(change.new_values, visible);
            out.old_values = cut(change.old_values, visible);
            break;
        case Shown::Delete:
            out.op = common::Op::Delete;
            out.old_values = cut(change.old_values, visible);
            break;
        case Shown::Hidden: return out;
    }
    if (shown != Shown::Delete)
        for (const std::string &name : change.unchanged)
            if (is_visible_column(visible, name)) out.unchanged.push_back(name);
    return out;
}

std::string viewer_key(const Viewer &v) {
    // Names, not addresses: every service thread holds its own copy of the rules, and the
    // frames built for a key are shared between threads (stream/shared_frames.hpp). Within
    // one config version the rule a viewer gets is the one of its role on that table.
    std::string key;
    auto add = [&key](std::string_view part) {  // length-prefixed: no two keys collide
        key += std::to_string(part.size());
        key += ':';
        key += part;
    };
    if (v.rule && v.identity) add(v.identity->role);
    else key += '-';
    key += '|';
    key += v.table ? 't' : '-';
    if (v.identity == nullptr) return key + "|-";
    key += '|';
    if (v.table && v.table->tenant_column) {
        if (v.identity->tenant) add(*v.identity->tenant);
        else key += '-';
    }
    if (v.rule) {
        for (const std::string &name : v.rule->claims_read) {
            add(name);
            auto it = v.identity->claims.find(name);
            if (it == v.identity->claims.end()) {
                key += '~';
            } else {
                std::string json;
                common::append_value_json(json, it->second);
                add(json);
            }
        }
    }
    key += '|';
    if (v.scope) add(v.scope->key);
    return key;
}

}  // namespace livesync::rules
