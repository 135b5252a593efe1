#include "sidecar/rules/published_tables.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>

#include "sidecar/rules/config_row.hpp"

namespace livesync::rules {

namespace {

// A row's tenant_column (text or NULL) and columns (text[] or NULL); a value of another
// shape scopes the table to nothing rather than to everything.
rules::TableScope scope_of_row(const std::vector<common::Column> &cols) {
    rules::TableScope scope;
    if (const common::Value *t = column_value(cols, "tenant_column"); t && t->kind != common::Value::Kind::Null)
        scope.tenant_column = t->kind == common::Value::Kind::Text ? t->s : std::string("\x01 unreadable tenant column");
    if (const common::Value *c = column_value(cols, "columns"))
        if (!rules::parse_column_list(*c, scope.columns)) scope.columns = std::vector<std::string>{};
    return scope;
}

std::optional<std::string> table_of_row(const std::vector<common::Column> &cols) {
    auto schema = text_column(cols, "schema_name");
    auto table = text_column(cols, "table_name");
    if (!schema || !table) return std::nullopt;
    return *schema + "." + *table;
}

}  // namespace

std::optional<PublishedTables> PublishedTables::from_hash(
    const std::vector<std::pair<std::string, std::string>> &fields, std::string *error) {
    PublishedTables published;
    for (const auto &[field, value] : fields) {
        rapidjson::Document doc;
        doc.Parse(value.data(), value.size());
        if (doc.HasParseError()) {
            *error = "tables[" + field + "] is not JSON: " + rapidjson::GetParseError_En(doc.GetParseError());
            return std::nullopt;
        }
        bool valid = doc.IsObject() && doc.HasMember("schema") && doc.HasMember("table") &&
                     doc["schema"].IsString() && doc["table"].IsString();
        if (!valid) {
            *error = "tables[" + field + "] must be {\"schema\":..,\"table\":..}";
            return std::nullopt;
        }
        std::string name = std::string(doc["schema"].GetString(), doc["schema"].GetStringLength()) + "." +
                           std::string(doc["table"].GetString(), doc["table"].GetStringLength());
        rules::TableScope scope;
        if (auto it = doc.FindMember("tenant_column"); it != doc.MemberEnd() && !it->value.IsNull()) {
            if (!it->value.IsString()) {
                *error = "tables[" + field + "].tenant_column must be a string or null";
                return std::nullopt;
            }
            scope.tenant_column = std::string(it->value.GetString(), it->value.GetStringLength());
        }
        if (auto it = doc.FindMember("columns"); it != doc.MemberEnd() && !it->value.IsNull()) {
            std::vector<std::string> names;
            bool ok = it->value.IsArray();
            if (ok)
                for (const auto &c : it->value.GetArray()) {
                    if (!c.IsString()) ok = false;
                    else names.emplace_back(c.GetString(), c.GetStringLength());
                }
            if (!ok) {
                *error = "tables[" + field + "].columns must be an array of names or null";
                return std::nullopt;
            }
            std::sort(names.begin(), names.end());
            names.erase(std::unique(names.begin(), names.end()), names.end());
            scope.columns = std::move(names);
        }
        if (auto it = doc.FindMember("disabled"); it != doc.MemberEnd() && !it->value.IsNull()) {
            published.disabled_.insert(name);  // a schema change disabled it: unpublished
            continue;
        }
        published.tables_.insert(name);
        published.scopes_[name] = std::move(scope);
    }
    return published;
}

bool PublishedTables::is_config_change(const common::Change &change) {
    return change.schema == "livesync" && (change.table == "tables" || change.table == "rules");
}

bool PublishedTables::is_table_change(const common::Change &change) {
    if (change.op == common::Op::Truncate) {
        for (const common::RelationName &r : change.relations)
            if (r.schema == "livesync" && r.table == "tables") return true;
        return false;
    }
    return change.schema == "livesync" && change.table == "tables";
}

void PublishedTables::apply(const common::Change &change) {
    if (change.op == common::Op::Truncate) {  // is_table_change: it emptied livesync.tables
        tables_.clear();
        scopes_.clear();
        disabled_.clear();
        return;
    }
    if (change.op != common::Op::Insert) {
        if (auto old = table_of_row(change.old_values)) {
            tables_.erase(*old);
            scopes_.erase(*old);
            disabled_.erase(*old);
        }
    }
    if (change.op != common::Op::Delete) {
        if (auto now = table_of_row(change.new_values)) {
            const common::Value *disabled = column_value(change.new_values, "disabled");
            if (disabled && disabled->kind != common::Value::Kind::Null) {
                disabled_.insert(*now);
            } else {
                tables_.insert(*now);
                scopes_[*now] = scope_of_row(change.new_values);
            }
        }
    }
}

const rules::TableScope *PublishedTables::scope(const std::string &qualified_table) const {
    auto it = scopes_.find(qualified_table);
    return it == scopes_.end() ? nullptr : &it->second;
}

}  // namespace livesync::rules
