#include "sidecar/stream/published_tables.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>


namespace livesync::stream {

namespace {

std::optional<std::string> text_column(const std::vector<common::Column> &cols, std::string_view name) {
    for (const common::Column &c : cols)
        if (c.name == name && c.value.kind == common::Value::Kind::Text) return c.value.s;
    return std::nullopt;
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
        published.tables_.insert(std::string(doc["schema"].GetString(), doc["schema"].GetStringLength()) + "." +
                                 std::string(doc["table"].GetString(), doc["table"].GetStringLength()));
    }
    return published;
}

bool PublishedTables::is_config_change(const common::Change &change) {
    return change.schema == "livesync" && change.table == "tables";
}

void PublishedTables::apply(const common::Change &change) {
    if (change.op != common::Op::Insert) {
        if (auto old = table_of_row(change.old_values)) tables_.erase(*old);
    }
    if (change.op != common::Op::Delete) {
        if (auto now = table_of_row(change.new_values)) tables_.insert(*now);
    }
}

}  // namespace livesync::stream
