#include <gtest/gtest.h>

#include "sidecar/rules/config_history.hpp"

namespace livesync {
namespace {

using common::StreamId;
using rules::ConfigHistory;
using rules::ConfigVersion;

std::shared_ptr<const ConfigVersion> version_with(const std::string &table) {
    std::string error;
    std::vector<std::string> rule_errors;
    auto v = rules::parse_config_version(
        {{"v", "1"}, {"t:" + table, R"({"schema":"public","table":")" + table.substr(7) + R"("})"}}, &error, &rule_errors);
    EXPECT_TRUE(v) << error;
    return std::make_shared<const ConfigVersion>(std::move(*v));
}

TEST(ConfigHistory, TheVersionInForceIsTheNewestAtOrBeforeThePosition) {
    ConfigHistory h;
    EXPECT_EQ(h.at(StreamId{100, 0}), nullptr);
    auto a = version_with("public.a"), b = version_with("public.b");
    h.record(StreamId{100, 0}, a);
    h.record(StreamId{200, 1}, b);
    EXPECT_EQ(h.at(StreamId{99, 7}), nullptr);  // older than every version: no guess
    EXPECT_EQ(h.at(StreamId{100, 0}), a);       // a transaction's own change is in force for it
    EXPECT_EQ(h.at(StreamId{200, 0}), a);       // part 0 of 200 came before its part 1 made b
    EXPECT_EQ(h.at(StreamId{200, 1}), b);
    EXPECT_EQ(h.at(StreamId{UINT64_MAX, UINT64_MAX}), b);
    EXPECT_EQ(*h.newest(), (StreamId{200, 1}));
}

TEST(ConfigHistory, KeysOnlyGrowAndTheOldestVersionsGo) {
    ConfigHistory h;
    auto a = version_with("public.a"), b = version_with("public.b");
    h.record(StreamId{200, 0}, a);
    h.record(StreamId{150, 0}, b);  // written again after a restart: right after the newest
    EXPECT_EQ(*h.newest(), (StreamId{200, 1}));
    EXPECT_EQ(h.at(StreamId{150, 0}), nullptr);
    EXPECT_EQ(h.at(StreamId{300, 0}), b);
    for (uint64_t i = 0; i < rules::kConfigVersionsKept; ++i) h.record(StreamId{1000 + i, 0}, a);
    EXPECT_EQ(h.size(), rules::kConfigVersionsKept);
    EXPECT_EQ(h.at(StreamId{500, 0}), nullptr);  // gone: resync_required rather than a guess
}

TEST(ConfigHistory, AVersionEntryIsParsedOrRefusedWithAReason) {
    std::string error;
    std::vector<std::string> rule_errors;
    auto v = rules::parse_config_version(
        {{"v", "1"},
         {"t:public.docs", R"({"schema":"public","table":"docs","tenant_column":"tenant","columns":null})"},
         {"r:member|public.docs", R"({"role":"member","schema":"public","table":"docs","filter":{"const":true},"columns":["id"]})"}},
        &error, &rule_errors);
    ASSERT_TRUE(v) << error;
    EXPECT_TRUE(v->tables.contains("public.docs"));
    EXPECT_NE(v->rules.find("member", "public.docs"), nullptr);

    EXPECT_FALSE(rules::parse_config_version({{"v", "1"}, {"x", "1"}}, &error, &rule_errors));
    EXPECT_NE(error.find("unknown field x"), std::string::npos) << error;
    EXPECT_FALSE(rules::parse_config_version({{"t:public.docs", "{not json"}}, &error, &rule_errors));
    EXPECT_NE(error.find("not JSON"), std::string::npos) << error;

    // A bad rule denies (it is dropped) and says why; the version stands.
    rule_errors.clear();
    auto w = rules::parse_config_version({{"r:member|public.docs", R"({"role":"member"})"}}, &error, &rule_errors);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->rules.size(), 0u);
    ASSERT_EQ(rule_errors.size(), 1u);
    EXPECT_NE(rule_errors[0].find("member|public.docs"), std::string::npos) << rule_errors[0];
}

}  // namespace
}  // namespace livesync
