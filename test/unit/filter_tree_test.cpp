#include "common/filter_tree.hpp"

#include <gtest/gtest.h>

namespace livesync::common {
namespace {

Value text(std::string s) {
    Value v;
    v.kind = Value::Kind::Text;
    v.s = std::move(s);
    return v;
}
Value integer(int64_t i) {
    Value v;
    v.kind = Value::Kind::Int;
    v.i = i;
    return v;
}
Value numeric(std::string s) {
    Value v;
    v.kind = Value::Kind::Numeric;
    v.s = std::move(s);
    return v;
}
Value uuid(std::string s) {
    Value v;
    v.kind = Value::Kind::OtherText;
    v.s = std::move(s);
    return v;
}

FilterNode parse(const std::string &json) {
    std::string error;
    auto node = parse_filter(json, &error);
    EXPECT_TRUE(node.has_value()) << error;
    return node.value_or(FilterNode{});
}

struct Row {
    std::vector<Column> columns;
    Row &with(std::string name, Value v) {
        columns.push_back({std::move(name), std::move(v)});
        return *this;
    }
};

TEST(FilterTree, OwnerMatchesSubClaim) {
    auto f = parse(R"({"cmp":"=","type":"int","args":[{"col":"owner_id"},{"claim":"sub"}]})");
    Row mine = Row().with("owner_id", integer(7));
    Row theirs = Row().with("owner_id", integer(8));
    Claims claims{{"sub", text("7")}};
    EXPECT_TRUE(filter_allows(f, RowView(mine.columns), claims));
    EXPECT_FALSE(filter_allows(f, RowView(theirs.columns), claims));
}

TEST(FilterTree, MissingClaimOrNullColumnDenies) {
    auto f = parse(R"({"cmp":"=","type":"text","args":[{"col":"owner"},{"claim":"sub"}]})");
    Row row = Row().with("owner", text("alice"));
    EXPECT_EQ(evaluate_filter(f, RowView(row.columns), Claims{}), Truth::Unknown);
    Row null_owner = Row().with("owner", Value{});
    EXPECT_FALSE(filter_allows(f, RowView(null_owner.columns), Claims{{"sub", text("alice")}}));
    // NOT of unknown stays unknown: a negated rule cannot turn a missing claim into access.
    auto negated = parse(R"({"not":{"cmp":"=","type":"text","args":[{"col":"owner"},{"claim":"sub"}]}})");
    EXPECT_FALSE(filter_allows(negated, RowView(row.columns), Claims{}));
}

TEST(FilterTree, OrWithAdminRoleFollowsThreeValuedLogic) {
    auto f = parse(R"({"or":[{"cmp":"=","type":"int","args":[{"col":"owner_id"},{"claim":"sub"}]},
                            {"cmp":"=","type":"text","args":[{"claim":"role"},{"value":"admin"}]}]})");
    Row row = Row().with("owner_id", integer(1));
    EXPECT_TRUE(filter_allows(f, RowView(row.columns), Claims{{"role", text("admin")}}));
    EXPECT_FALSE(filter_allows(f, RowView(row.columns), Claims{{"role", text("member")}, {"sub", text("2")}}));
    EXPECT_TRUE(filter_allows(f, RowView(row.columns), Claims{{"role", text("member")}, {"sub", text("1")}}));
    EXPECT_EQ(evaluate_filter(f, RowView(row.columns), Claims{{"role", text("member")}}), Truth::Unknown);
}

TEST(FilterTree, InListAndIsNull) {
    auto f = parse(R"({"and":[{"in":{"col":"status"},"type":"text","values":[{"value":"open"},{"value":"review"}]},
                             {"is_null":{"col":"deleted_at"}}]})");
    Row open = Row().with("status", text("open")).with("deleted_at", Value{});
    Row closed = Row().with("status", text("closed")).with("deleted_at", Value{});
    Row deleted = Row().with("status", text("open")).with("deleted_at", text("2026-01-01"));
    EXPECT_TRUE(filter_allows(f, RowView(open.columns), {}));
    EXPECT_FALSE(filter_allows(f, RowView(closed.columns), {}));
    EXPECT_FALSE(filter_allows(f, RowView(deleted.columns), {}));
}

TEST(FilterTree, NumericComparesExactlyBeyondDoublePrecision) {
    auto f = parse(R"({"cmp":">","type":"numeric","args":[{"col":"amount"},{"value":"12345678901234567890.1"}]})");
    Row above = Row().with("amount", numeric("12345678901234567890.10000001"));
    Row equal = Row().with("amount", numeric("12345678901234567890.100"));
    Row negative = Row().with("amount", numeric("-99999999999999999999999"));
    EXPECT_TRUE(filter_allows(f, RowView(above.columns), {}));
    EXPECT_FALSE(filter_allows(f, RowView(equal.columns), {}));
    EXPECT_FALSE(filter_allows(f, RowView(negative.columns), {}));
}

TEST(FilterTree, UuidComparisonIgnoresCaseAndHyphens) {
    auto f = parse(R"({"cmp":"=","type":"uuid","args":[{"col":"owner"},{"claim":"sub"}]})");
    Row row = Row().with("owner", uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    EXPECT_TRUE(filter_allows(f, RowView(row.columns), Claims{{"sub", text("A0EEBC999C0B4EF8BB6D6BB9BD380A11")}}));
    EXPECT_FALSE(filter_allows(f, RowView(row.columns), Claims{{"sub", text("not-a-uuid")}}));
}

TEST(FilterTree, UnparseableClaimForIntComparisonDenies) {
    auto f = parse(R"({"cmp":"<>","type":"int","args":[{"col":"owner_id"},{"claim":"sub"}]})");
    Row row = Row().with("owner_id", integer(1));
    EXPECT_FALSE(filter_allows(f, RowView(row.columns), Claims{{"sub", text("1; DROP TABLE")}}));
}

TEST(FilterTree, RoundTripsThroughJson) {
    const std::string json =
        R"({"or":[{"not":{"is_null":{"col":"a"}}},{"in":{"claim":"team"},"type":"int","values":[{"value":1},{"value":2}]},)"
        R"({"cmp":"<=","type":"float","args":[{"col":"score"},{"value":2.5}]},{"const":false}]})";
    auto node = parse(json);
    EXPECT_EQ(filter_to_json(node), json);
    std::vector<std::string> columns;
    filter_columns(node, columns);
    EXPECT_EQ(columns, (std::vector<std::string>{"a", "score"}));
}

TEST(FilterTree, RejectsMalformedFiltersWithAMessage) {
    const std::pair<const char *, const char *> cases[] = {
        {"not json", "not JSON"},
        {"[]", "must be an object"},
        {R"({"cmp":"~","type":"text","args":[{"col":"a"},{"value":1}]})", "unknown comparison operator"},
        {R"({"cmp":"=","type":"money","args":[{"col":"a"},{"value":1}]})", "unknown comparison type"},
        {R"({"cmp":"=","type":"int","args":[{"col":"a"}]})", "two \"args\""},
        {R"({"cmp":"=","type":"int","args":[{"col":""},{"value":1}]})", "must name"},
        {R"({"cmp":"=","type":"int","args":[{"sql":"1"},{"value":1}]})", "unknown operand"},
        {R"({"and":[]})", "non-empty"},
        {R"({"in":{"col":"a"},"type":"int","values":[]})", "non-empty"},
        {R"({"xor":[]})", "unknown filter node"},
        {R"({"const":"yes"})", "true or false"},
    };
    for (const auto &[json, expected] : cases) {
        std::string error;
        EXPECT_FALSE(parse_filter(json, &error).has_value()) << json;
        EXPECT_NE(error.find(expected), std::string::npos) << json << " -> " << error;
    }
    std::string deep;
    for (int i = 0; i < 100; ++i) deep += R"({"not":)";
    deep += R"({"const":true})";
    for (int i = 0; i < 100; ++i) deep += "}";
    std::string error;
    EXPECT_FALSE(parse_filter(deep, &error).has_value());
    EXPECT_NE(error.find("nested too deeply"), std::string::npos);
}

}  // namespace
}  // namespace livesync::common
