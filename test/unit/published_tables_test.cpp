#include <gtest/gtest.h>

#include "msgpack_change.hpp"
#include "sidecar/session/session_table.hpp"
#include "sidecar/stream/batch_applier.hpp"
#include "sidecar/rules/published_tables.hpp"

namespace livesync {
namespace {

using namespace test;
using rules::PublishedTables;

common::ChangeBatch decode(const std::string &bytes) {
    std::string error;
    auto b = common::decode_batch(bytes, &error);
    EXPECT_TRUE(b) << error;
    return *b;
}

TEST(PublishedTables, TablesHashListsEveryPublishedTable) {
    std::string error;
    auto t = PublishedTables::from_hash({{"public.items", R"({"schema":"public","table":"items"})"},
                                         {"s.t", R"({"schema":"s","table":"t"})"}},
                                        &error);
    ASSERT_TRUE(t) << error;
    EXPECT_TRUE(t->contains("public.items"));
    EXPECT_TRUE(t->contains("s.t"));
    EXPECT_FALSE(t->contains("public.other"));
    EXPECT_EQ(t->size(), 2u);
}

TEST(PublishedTables, BadTablesHashIsRejected) {
    std::string error;
    EXPECT_FALSE(PublishedTables::from_hash({{"public.items", "{"}}, &error));
    EXPECT_NE(error.find("not JSON"), std::string::npos);
    EXPECT_FALSE(PublishedTables::from_hash({{"public.items", R"({"schema":"public"})"}}, &error));
    EXPECT_NE(error.find("must be"), std::string::npos);
    EXPECT_FALSE(PublishedTables::from_hash({{"public.items", "[]"}}, &error));
}

TEST(PublishedTables, ConfigChangesInTheStreamPublishAndUnpublishInOrder) {
    rules::LiveState live;
    session::SessionTable sessions;
    ops::Counters counters;
    stream::StreamEvent reset = stream::StreamReset{};
    stream::apply_event(reset, live, sessions, counters);
    EXPECT_TRUE(live.ready);

    auto row = [](const char *schema, const char *table) {
        return Columns{{"schema_name", str(schema)}, {"table_name", str(table)}, {"columns", nil()}};
    };
    stream::StreamEvent publish = stream::StreamBatch{
        {10, 0},
        decode(batch(10, 1, {change("i", "livesync", "tables", row("public", "items")),
                             change("i", "livesync", "tables", row("public", "orders"))}))};
    stream::apply_event(publish, live, sessions, counters);
    EXPECT_TRUE(live.tables.contains("public.items"));
    EXPECT_TRUE(live.tables.contains("public.orders"));
    EXPECT_EQ(live.position, 10u);

    stream::StreamEvent unpublish = stream::StreamBatch{
        {11, 0},
        decode(batch(11, 2, {change("d", "livesync", "tables", {}, row("public", "items")),
                             change("u", "livesync", "tables", row("public", "orders2"), row("public", "orders"))}))};
    stream::apply_event(unpublish, live, sessions, counters);
    EXPECT_FALSE(live.tables.contains("public.items"));
    EXPECT_FALSE(live.tables.contains("public.orders"));
    EXPECT_TRUE(live.tables.contains("public.orders2"));
    EXPECT_EQ(live.position, 11u);
}

// TRUNCATE livesync.tables / livesync.rules (one statement may name both) unpublishes
// every table and drops every rule at its LSN: default deny, as if each row was deleted.
TEST(PublishedTables, TruncateOfTheConfigTablesUnpublishesAndRevokesEverything) {
    rules::LiveState live;
    session::SessionTable sessions;
    ops::Counters counters;
    stream::StreamEvent reset = stream::StreamReset{};
    stream::apply_event(reset, live, sessions, counters);
    Columns table_row{{"schema_name", str("public")}, {"table_name", str("items")}, {"columns", nil()}};
    Columns rule_row{{"role_name", str("member")},
                     {"schema_name", str("public")},
                     {"table_name", str("items")},
                     {"filter_tree", str(R"({"const":true})")},
                     {"columns", nil()}};
    stream::StreamEvent config = stream::StreamBatch{
        {10, 0},
        decode(batch(10, 1, {change("i", "livesync", "tables", table_row), change("i", "livesync", "rules", rule_row)}))};
    stream::apply_event(config, live, sessions, counters);
    ASSERT_TRUE(live.tables.contains("public.items"));
    ASSERT_NE(live.rules.find("member", "public.items"), nullptr);

    stream::StreamEvent rules_only = stream::StreamBatch{{11, 0}, decode(batch(11, 2, {truncate({{"livesync", "rules"}})}))};
    stream::apply_event(rules_only, live, sessions, counters);
    EXPECT_EQ(live.rules.find("member", "public.items"), nullptr);
    EXPECT_TRUE(live.tables.contains("public.items"));  // only the rules were emptied

    stream::apply_event(config, live, sessions, counters);
    ASSERT_NE(live.rules.find("member", "public.items"), nullptr);
    stream::StreamEvent both = stream::StreamBatch{
        {12, 0}, decode(batch(12, 3, {truncate({{"public", "items"}, {"livesync", "tables"}, {"livesync", "rules"}})}))};
    stream::apply_event(both, live, sessions, counters);
    EXPECT_FALSE(live.tables.contains("public.items"));
    EXPECT_EQ(live.tables.size(), 0u);
    EXPECT_EQ(live.rules.find("member", "public.items"), nullptr);
    EXPECT_EQ(live.position, 12u);
}

TEST(PublishedTables, ResetReplacesTablesAndNeverMovesThePositionBack) {
    rules::LiveState live;
    live.position = 50;
    common::Change row;
    row.schema = "livesync";
    row.table = "tables";
    for (auto [name, text] : {std::pair{"schema_name", "public"}, std::pair{"table_name", "old"}}) {
        common::Column c;
        c.name = name;
        c.value.kind = common::Value::Kind::Text;
        c.value.s = text;
        row.new_values.push_back(c);
    }
    live.tables.apply(row);
    ASSERT_TRUE(live.tables.contains("public.old"));
    session::SessionTable sessions;
    ops::Counters counters;
    stream::StreamEvent reset = stream::StreamReset{PublishedTables{}, {30, 0}};
    stream::apply_event(reset, live, sessions, counters);
    EXPECT_FALSE(live.tables.contains("public.old"));
    EXPECT_EQ(live.position, 50u);
}

TEST(PublishedTables, ARedisConfigOlderThanTheAppliedOneIsNeverApplied) {
    rules::LiveState live;
    common::Change row;
    row.schema = "livesync";
    row.table = "tables";
    for (auto [name, text] : {std::pair{"schema_name", "public"}, std::pair{"table_name", "kept"}}) {
        common::Column c;
        c.name = name;
        c.value.kind = common::Value::Kind::Text;
        c.value.s = text;
        row.new_values.push_back(c);
    }
    live.tables.apply(row);
    live.history.record(common::StreamId{60, 0},
                        std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules}));
    session::SessionTable sessions;
    ops::Counters counters;
    // Redis restored from an older backup: its copy is as of 30, this sidecar applied 60.
    stream::StreamEvent older = stream::StreamReset{PublishedTables{}, {30, 0}};
    stream::apply_event(older, live, sessions, counters);
    EXPECT_TRUE(live.tables.contains("public.kept"));
    EXPECT_EQ(counters.stale_config_refused.load(), 1u);
    EXPECT_NE(live.history.at(common::StreamId{60, 0}), nullptr);
    // A newer copy (the replicator went on) replaces it.
    stream::StreamEvent newer = stream::StreamReset{PublishedTables{}, {70, 0}};
    stream::apply_event(newer, live, sessions, counters);
    EXPECT_FALSE(live.tables.contains("public.kept"));
    EXPECT_EQ(live.history.at(common::StreamId{60, 0}), nullptr);  // versions before the copy: unknown now
}

}  // namespace
}  // namespace livesync
