#include "sidecar/rules/rule_set.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>

#include "sidecar/rules/config_row.hpp"

namespace livesync::rules {

namespace {

void collect_claims(const common::FilterNode &n, std::vector<std::string> &out) {
    for (const common::FilterOperand &o : n.operands)
        if (o.kind == common::FilterOperand::Kind::Claim) out.push_back(o.name);
    for (const common::FilterNode &c : n.children) collect_claims(c, out);
}

std::optional<std::pair<std::string, std::string>> key_of_row(const std::vector<common::Column> &cols) {
    auto role = text_column(cols, "role_name");
    auto schema = text_column(cols, "schema_name");
    auto table = text_column(cols, "table_name");
    if (!role || !schema || !table) return std::nullopt;
    return std::make_pair(*role, *schema + "." + *table);
}

bool make_rule(std::string role, std::string table, std::string_view filter_json,
               std::optional<std::vector<std::string>> columns, Rule &rule, std::string *error) {
    auto filter = common::parse_filter(filter_json, error);
    if (!filter) return false;
    rule.role = std::move(role);
    rule.table = std::move(table);
    rule.filter = std::move(*filter);
    rule.columns = std::move(columns);
    rule.claims_read = filter_claims(rule.filter);
    return true;
}

}  // namespace

std::vector<std::string> filter_claims(const common::FilterNode &node) {
    std::vector<std::string> out;
    collect_claims(node, out);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool parse_column_list(const common::Value &value, std::optional<std::vector<std::string>> &out) {
    if (value.kind == common::Value::Kind::Null) {
        out.reset();
        return true;
    }
    if (value.kind != common::Value::Kind::Array) return false;
    std::vector<std::string> names;
    for (const common::Value &e : value.elements) {
        if (e.kind != common::Value::Kind::Text) return false;
        names.push_back(e.s);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    out = std::move(names);
    return true;
}

RuleSet RuleSet::from_hash(const std::vector<std::pair<std::string, std::string>> &fields,
                           std::vector<std::string> *errors) {
    RuleSet set;
    for (const auto &[field, value] : fields) {
        rapidjson::Document doc;
        doc.Parse(value.data(), value.size());
        auto bad = [&, f = field](const std::string &why) { errors->push_back("rules[" + f + "]: " + why); };
        if (doc.HasParseError()) {
            bad(std::string("not JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()));
            continue;
        }
        auto str = [&](const char *name) -> std::optional<std::string> {
            if (!doc.IsObject()) return std::nullopt;
            auto it = doc.FindMember(name);
            if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
            return std::string(it->value.GetString(), it->value.GetStringLength());
        };
        auto role = str("role"), schema = str("schema"), table = str("table");
        if (!role || !schema || !table || !doc.HasMember("filter")) {
            bad("must be {\"role\":..,\"schema\":..,\"table\":..,\"filter\":..,\"columns\":..}");
            continue;
        }
        if (auto it = doc.FindMember("disabled"); it != doc.MemberEnd() && !it->value.IsNull()) {
            set.disabled_.insert(std::make_pair(*role, *schema + "." + *table));  // denies
            continue;
        }
        std::string filter_text;
        if (const rapidjson::Value &filter = doc["filter"]; filter.IsString()) {  // the tree as JSON text
            filter_text.assign(filter.GetString(), filter.GetStringLength());
        } else {
            rapidjson::StringBuffer buf;
            rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
            filter.Accept(writer);
            filter_text.assign(buf.GetString(), buf.GetSize());
        }
        std::optional<std::vector<std::string>> columns;
        if (auto it = doc.FindMember("columns"); it != doc.MemberEnd() && !it->value.IsNull()) {
            if (!it->value.IsArray()) {
                bad("columns must be an array of names or null");
                continue;
            }
            std::vector<std::string> names;
            bool ok = true;
            for (const auto &c : it->value.GetArray()) {
                if (!c.IsString()) ok = false;
                else names.emplace_back(c.GetString(), c.GetStringLength());
            }
            if (!ok) {
                bad("columns must be an array of names or null");
                continue;
            }
            std::sort(names.begin(), names.end());
            names.erase(std::unique(names.begin(), names.end()), names.end());
            columns = std::move(names);
        }
        Rule rule;
        std::string error;
        if (!make_rule(*role, *schema + "." + *table, filter_text,
                       std::move(columns), rule, &error)) {
            bad("filter: " + error);
            continue;
        }
        set.set(std::move(rule));
    }
    return set;
}

bool RuleSet::is_rule_change(const common::Change &change) {
    if (change.op == common::Op::Truncate) {
        for (const common::RelationName &r : change.relations)
            if (r.schema == "livesync" && r.table == "rules") return true;
        return false;
    }
    return change.schema == "livesync" && change.table == "rules";
}

bool RuleSet::apply(const common::Change &change, std::string *error) {
    if (change.op == common::Op::Truncate) {  // is_rule_change: it emptied livesync.rules
        rules_.clear();
        disabled_.clear();
        return true;
    }
    if (change.op != common::Op::Insert) {
        if (auto old = key_of_row(change.old_values)) {
            rules_.erase(*old);
            disabled_.erase(*old);
        }
        // Without the old row (it should be REPLICA IDENTITY FULL) the key of an update
        // is the new row's: the new rule replaces it below.
    }
    if (change.op == common::Op::Delete) return true;
    auto key = key_of_row(change.new_values);
    if (!key) {
        *error = "a livesync.rules row without role_name, schema_name and table_name";
        return false;
    }
    rules_.erase(*key);
    if (const common::Value *d = column_value(change.new_values, "disabled"); d && d->kind != common::Value::Kind::Null) {
        disabled_.insert(*key);  // a schema change broke its filter: it denies
        return true;
    }
    auto filter = text_column(change.new_values, "filter_tree");
    if (!filter) {
        *error = "rule " + key->first + "|" + key->second + " has no filter_tree: it denies";
        return false;
    }
    std::optional<std::vector<std::string>> columns;
    if (const common::Value *cols = column_value(change.new_values, "columns"); cols && !parse_column_list(*cols, columns)) {
        *error = "rule " + key->first + "|" + key->second + " has a bad columns value: it denies";
        return false;
    }
    Rule rule;
    if (!make_rule(key->first, key->second, *filter, std::move(columns), rule, error)) {
        *error = "rule " + key->first + "|" + key->second + ": " + *error + ": it denies";
        return false;
    }
    set(std::move(rule));
    return true;
}

bool RuleSet::set(Rule rule) {
    auto key = std::make_pair(rule.role, rule.table);
    rules_[key] = std::make_shared<const Rule>(std::move(rule));
    return true;
}

const Rule *RuleSet::find(const std::string &role, const std::string &table) const {
    auto it = rules_.find(std::make_pair(role, table));
    return it == rules_.end() ? nullptr : it->second.get();
}

}  // namespace livesync::rules
