// Authorization in fan-out (guarantee 4): tenant isolation, role rules with claims,
// column cuts, update transitions, subscription scopes, and encode-once per audience.
#include <gtest/gtest.h>

#include "auth_fixture.hpp"
#include "msgpack_change.hpp"
#include "sidecar/rules/access.hpp"
#include "sidecar/stream/fanout.hpp"

namespace livesync {
namespace {

using namespace test;
using rules::Identity;

common::Transaction txn_of(const std::string &bytes) {
    std::string error;
    auto b = common::decode_batch(bytes, &error);
    EXPECT_TRUE(b) << error;
    return b->transactions.at(0);
}

// docs(id, tenant, owner, title, secret): tenant column "tenant"; published columns
// exclude nothing; member sees own rows (owner = sub) without secret; admin all.
rules::LiveState docs_live() {
    rules::LiveState live;
    std::string error;
    live.tables = *rules::PublishedTables::from_hash(
        {{"public.docs", R"({"schema":"public","table":"docs","tenant_column":"tenant","columns":null})"}}, &error);
    grant(live, "admin", "public.docs");
    grant(live, "member", "public.docs", R"({"cmp":"=","type":"int","args":[{"col":"owner"},{"claim":"sub"}]})",
          R"(["id","owner","tenant","title"])");
    return live;
}

Identity who(const std::string &role, const std::string &tenant, const std::string &sub) {
    Identity id;
    id.role = role;
    id.tenant = tenant;
    id.subject = sub;
    common::Value v;
    v.kind = common::Value::Kind::Text;
    v.s = sub;
    id.claims["sub"] = v;
    return id;
}

Columns doc(int64_t id, const std::string &tenant, int64_t owner, const std::string &title = "t") {
    return {{"id", i64(id)}, {"tenant", str(tenant)}, {"owner", i64(owner)}, {"title", str(title)}, {"secret", str("s")}};
}

session::SubsByTable sub_on_docs(std::shared_ptr<const rules::SubscriptionScope> scope = nullptr) {
    session::SubsByTable subs;
    subs["public.docs"].push_back(session::SubscriptionEntry{"s1", 0, std::move(scope)});
    return subs;
}

std::string frame_of(const common::Transaction &txn, const Identity *id, const rules::LiveState &live,
                     const session::SubsByTable &subs) {
    auto frames = stream::plan_fanout(txn, {{0, &subs, id}}, live);
    if (frames.empty()) return "";
    return std::string(protocol::frame_payload(frames[0].frame));
}

TEST(Access, ChannelsComeFromTheTokensChannelsClaim) {
    auto with_claim = [](common::Value v) {
        Identity id;
        id.subject = "u1";
        id.role = "member";
        id.claims["channels"] = std::move(v);
        return id;
    };
    common::Value list;
    list.kind = common::Value::Kind::Json;
    list.s = R"(["alerts","org:42:*",7])";
    Identity a = with_claim(list);
    EXPECT_TRUE(rules::channel_allowed(a, "channels", "alerts"));
    EXPECT_TRUE(rules::channel_allowed(a, "channels", "org:42:jobs"));
    EXPECT_TRUE(rules::channel_allowed(a, "channels", "org:42:"));
    EXPECT_FALSE(rules::channel_allowed(a, "channels", "org:4"));
    EXPECT_FALSE(rules::channel_allowed(a, "channels", "alerts2"));
    EXPECT_FALSE(rules::channel_allowed(a, "channels", "7"));       // only strings count
    EXPECT_FALSE(rules::channel_allowed(a, "other_claim", "alerts"));
    common::Value one;
    one.kind = common::Value::Kind::Text;
    one.s = "*";
    EXPECT_TRUE(rules::channel_allowed(with_claim(one), "channels", "anything"));
    common::Value number;
    number.kind = common::Value::Kind::Int;
    number.i = 1;
    EXPECT_FALSE(rules::channel_allowed(with_claim(number), "channels", "1"));
    Identity anonymous = with_claim(one);
    anonymous.anonymous = true;
    EXPECT_FALSE(rules::channel_allowed(anonymous, "channels", "anything"));
    EXPECT_FALSE(rules::channel_allowed(Identity{}, "channels", "alerts"));
}

TEST(Access, RowsOfAnotherTenantNeverReachTheSession) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto a = who("admin", "acme", "1");
    auto txn = txn_of(batch(100, 7, {change("i", "public", "docs", doc(1, "acme", 1)),
                                     change("i", "public", "docs", doc(2, "globex", 1))}));
    std::string json = frame_of(txn, &a, live, subs);
    EXPECT_NE(json.find(R"("id":1)"), std::string::npos) << json;
    EXPECT_EQ(json.find("globex"), std::string::npos) << json;
}

TEST(Access, MissingTenantClaimOrNoIdentityOrNoRuleSeesNothing) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto txn = txn_of(batch(100, 7, {change("i", "public", "docs", doc(1, "acme", 1))}));
    Identity no_tenant = who("admin", "acme", "1");
    no_tenant.tenant.reset();
    EXPECT_EQ(frame_of(txn, &no_tenant, live, subs), "");
    EXPECT_EQ(frame_of(txn, nullptr, live, subs), "");
    auto stranger = who("viewer", "acme", "1");
    EXPECT_EQ(frame_of(txn, &stranger, live, subs), "");
}

TEST(Access, RuleFilterReadsClaimsAndHiddenColumnsAreCut) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto m = who("member", "acme", "5");
    auto txn = txn_of(batch(100, 7, {change("i", "public", "docs", doc(1, "acme", 5)),
                                     change("i", "public", "docs", doc(2, "acme", 6))}));
    std::string json = frame_of(txn, &m, live, subs);
    EXPECT_NE(json.find(R"("new":{"id":1,"tenant":"acme","owner":5,"title":"t"})"), std::string::npos) << json;
    EXPECT_EQ(json.find(R"("id":2)"), std::string::npos) << json;
    EXPECT_EQ(json.find("secret"), std::string::npos) << json;
}

TEST(Access, UpdatesBecomeInsertsAndDeletesWhenVisibilityChanges) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto m = who("member", "acme", "5");
    auto away = txn_of(batch(100, 7, {change("u", "public", "docs", doc(1, "acme", 6), doc(1, "acme", 5))}));
    std::string json = frame_of(away, &m, live, subs);
    EXPECT_NE(json.find(R"("op":"delete")"), std::string::npos) << json;
    EXPECT_EQ(json.find(R"("new")"), std::string::npos) << json;
    auto toward = txn_of(batch(101, 7, {change("u", "public", "docs", doc(1, "acme", 5), doc(1, "acme", 6))}));
    json = frame_of(toward, &m, live, subs);
    EXPECT_NE(json.find(R"("op":"insert")"), std::string::npos) << json;
    EXPECT_EQ(json.find(R"("old")"), std::string::npos) << json;
    auto tenant_move = txn_of(batch(102, 7, {change("u", "public", "docs", doc(1, "globex", 5), doc(1, "acme", 5))}));
    json = frame_of(tenant_move, &m, live, subs);
    EXPECT_NE(json.find(R"("op":"delete")"), std::string::npos) << json;
    EXPECT_EQ(json.find("globex"), std::string::npos) << json;
    auto stays = txn_of(batch(103, 7, {change("u", "public", "docs", doc(1, "acme", 5, "x"), doc(1, "acme", 5))}));
    EXPECT_NE(frame_of(stays, &m, live, subs).find(R"("op":"update")"), std::string::npos);
    auto hidden = txn_of(batch(104, 7, {change("u", "public", "docs", doc(1, "acme", 6, "x"), doc(1, "acme", 6))}));
    EXPECT_EQ(frame_of(hidden, &m, live, subs), "");
    auto deleted = txn_of(batch(105, 7, {change("d", "public", "docs", {}, doc(1, "acme", 6))}));
    EXPECT_EQ(frame_of(deleted, &m, live, subs), "");
}

TEST(Access, SubscriptionScopeNarrowsAndCannotReadClaimsOrHiddenColumns) {
    auto live = docs_live();
    std::string error;
    auto filter = common::parse_filter(R"({"cmp":">","type":"int","args":[{"col":"id"},{"value":1}]})", &error);
    std::optional<std::vector<std::string>> visible = std::vector<std::string>{"id", "owner", "tenant", "title"};
    auto scope = rules::make_subscription_scope(filter, std::vector<std::string>{"title", "id"}, visible, &error);
    ASSERT_TRUE(scope) << error;
    auto subs = sub_on_docs(std::make_shared<const rules::SubscriptionScope>(*scope));
    auto m = who("member", "acme", "5");
    auto txn = txn_of(batch(100, 7, {change("i", "public", "docs", doc(1, "acme", 5)),
                                     change("i", "public", "docs", doc(2, "acme", 5))}));
    std::string json = frame_of(txn, &m, live, subs);
    EXPECT_NE(json.find(R"("new":{"id":2,"title":"t"})"), std::string::npos) << json;
    EXPECT_EQ(json.find(R"("id":1)"), std::string::npos) << json;

    auto claims = common::parse_filter(R"({"cmp":"=","type":"text","args":[{"col":"title"},{"claim":"sub"}]})", &error);
    EXPECT_FALSE(rules::make_subscription_scope(claims, std::nullopt, visible, &error));
    auto probe = common::parse_filter(R"({"cmp":"=","type":"text","args":[{"col":"secret"},{"value":"s"}]})", &error);
    EXPECT_FALSE(rules::make_subscription_scope(probe, std::nullopt, visible, &error));
    EXPECT_FALSE(rules::make_subscription_scope(std::nullopt, std::vector<std::string>{"secret"}, visible, &error));
}

TEST(Access, EqualAudiencesShareOneFrameAndDistinctClaimsDoNot) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto m5a = who("member", "acme", "5"), m5b = who("member", "acme", "5"), m6 = who("member", "acme", "6");
    auto admin = who("admin", "acme", "9");
    auto txn = txn_of(batch(100, 7, {change("i", "public", "docs", doc(1, "acme", 5))}));
    auto frames = stream::plan_fanout(txn, {{0, &subs, &m5a}, {1, &subs, &m5b}, {2, &subs, &m6}, {3, &subs, &admin}},
                                      live);
    ASSERT_EQ(frames.size(), 2u);  // m6 sees nothing
    EXPECT_EQ(frames[0].targets, (std::vector<size_t>{0, 1}));
    EXPECT_EQ(frames[1].targets, (std::vector<size_t>{3}));
    EXPECT_NE(protocol::frame_payload(frames[1].frame).find("secret"), std::string_view::npos);
}

TEST(Access, TruncateOnlyReachesRolesWithARuleOnTheTable) {
    auto live = docs_live();
    auto subs = sub_on_docs();
    auto admin = who("admin", "acme", "9"), stranger = who("viewer", "acme", "9");
    auto txn = txn_of(batch(100, 7, {truncate({{"public", "docs"}})}));
    EXPECT_NE(frame_of(txn, &admin, live, subs).find("truncate"), std::string::npos);
    EXPECT_EQ(frame_of(txn, &stranger, live, subs), "");
}

TEST(Access, RuleChangesInTheStreamGrantAndRevokeAtTheirLsn) {
    rules::RuleSet rules;
    common::Change grant_row;
    grant_row.op = common::Op::Insert;
    grant_row.schema = "livesync";
    grant_row.table = "rules";
    auto text = [](const char *s) {
        common::Value v;
        v.kind = common::Value::Kind::Text;
        v.s = s;
        return v;
    };
    grant_row.new_values = {{"role_name", text("member")}, {"schema_name", text("public")},
                            {"table_name", text("docs")}, {"filter_tree", text(R"({"const":true})")},
                            {"columns", common::Value{}}};
    std::string error;
    ASSERT_TRUE(rules.apply(grant_row, &error)) << error;
    ASSERT_NE(rules.find("member", "public.docs"), nullptr);
    EXPECT_FALSE(rules.find("member", "public.docs")->columns);
    common::Change revoke = grant_row;
    revoke.op = common::Op::Delete;
    revoke.old_values = revoke.new_values;
    revoke.new_values.clear();
    ASSERT_TRUE(rules.apply(revoke, &error));
    EXPECT_EQ(rules.find("member", "public.docs"), nullptr);
    common::Change bad = grant_row;
    bad.new_values[3].value = text("{not json");
    EXPECT_FALSE(rules.apply(bad, &error));
    EXPECT_EQ(rules.find("member", "public.docs"), nullptr);  // a bad rule denies
}

}  // namespace
}  // namespace livesync
