#include "sidecar/rules/config_history.hpp"

namespace livesync::rules {

void ConfigHistory::record(common::StreamId key, std::shared_ptr<const ConfigVersion> version) {
    if (!versions_.empty()) {
        const common::StreamId newest = versions_.rbegin()->first;
        if (!(newest < key)) key = common::StreamId{newest.lsn, newest.seq + 1};
    }
    versions_.emplace(key, std::move(version));
    while (versions_.size() > kConfigVersionsKept) versions_.erase(versions_.begin());
}

std::shared_ptr<const ConfigVersion> ConfigHistory::at(common::StreamId key) const {
    auto it = versions_.upper_bound(key);
    if (it == versions_.begin()) return nullptr;
    return std::prev(it)->second;
}

std::optional<common::StreamId> ConfigHistory::newest() const {
    if (versions_.empty()) return std::nullopt;
    return versions_.rbegin()->first;
}

std::optional<ConfigVersion> parse_config_version(const std::vector<std::pair<std::string, std::string>> &fields,
                                                  std::string *error, std::vector<std::string> *rule_errors) {
    std::vector<std::pair<std::string, std::string>> tables, rules;
    for (const auto &[field, value] : fields) {
        if (field.rfind("t:", 0) == 0) tables.emplace_back(field.substr(2), value);
        else if (field.rfind("r:", 0) == 0) rules.emplace_back(field.substr(2), value);
        else if (field != "v") {
            *error = "unknown field " + field + " (expected v, t:<table> or r:<role>|<table>)";
            return std::nullopt;
        }
    }
    auto published = PublishedTables::from_hash(tables, error);
    if (!published) return std::nullopt;
    ConfigVersion version;
    version.tables = std::move(*published);
    version.rules = rules::RuleSet::from_hash(rules, rule_errors);
    return version;
}

}  // namespace livesync::rules
