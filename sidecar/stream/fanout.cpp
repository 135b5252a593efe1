#include "sidecar/stream/fanout.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/lsn.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/changes_frame.hpp"
#include "sidecar/rules/published_tables.hpp"

namespace livesync::stream {

namespace {

// The tables of one transaction and, per change, its tables' indexes; plus the views
// (rules::Viewer) its subscriptions have of those tables, each evaluated once per change
// whatever the number of sessions sharing it.
struct TxnTables {
    std::vector<std::string> tables;              // distinct, in order of first appearance
    std::vector<std::vector<int>> change_tables;  // per change: indexes into tables (empty: never sent)
    std::vector<const rules::TableScope *> scopes;  // per table; nullptr: not published

    struct View {
        rules::Viewer viewer;
        std::optional<std::vector<std::string>> visible;
        std::string columns_key;  // the visible columns, for the body cache
        std::string key;          // table index '#' viewer_key (length-prefixed parts)
    };
    std::vector<View> views;
    std::unordered_map<std::string, int> view_of_key;
    std::map<std::pair<size_t, int>, rules::Shown> shown;  // (change, view) → how it appears
    // (change, encoding + variant) → JSON minus '{', or msgpack: [field count byte][fields]
    std::map<std::pair<size_t, std::string>, std::string> bodies;
};

TxnTables index_tables(const common::Transaction &txn, const rules::PublishedTables &published) {
    TxnTables t;
    std::unordered_map<std::string, int> index;
    auto table_index = [&](std::string name) {
        auto [it, added] = index.emplace(name, static_cast<int>(t.tables.size()));
        if (added) {
            t.scopes.push_back(published.scope(name));
            t.tables.push_back(std::move(name));
        }
        return it->second;
    };
    t.change_tables.resize(txn.changes.size());
    for (size_t i = 0; i < txn.changes.size(); ++i) {
        for (const std::string &name : change_tables(txn.changes[i])) t.change_tables[i].push_back(table_index(name));
    }
    return t;
}

int view_index(TxnTables &t, int table, const rules::Identity *identity,
               const session::SubscriptionEntry &sub, const rules::RuleSet &rules) {
    rules::Viewer v;
    v.table = t.scopes[table];
    v.rule = identity ? rules.find(identity->role, t.tables[table]) : nullptr;
    v.identity = identity;
    v.scope = sub.scope.get();
    std::string key = std::to_string(table) + '#' + rules::viewer_key(v);
    auto [it, added] = t.view_of_key.emplace(key, static_cast<int>(t.views.size()));
    if (added) {
        TxnTables::View view{v, rules::visible_columns(v), {}, std::move(key)};
        if (view.visible)
            for (const std::string &c : *view.visible) view.columns_key += c + ",";
        else
            view.columns_key = "*";
        t.views.push_back(std::move(view));
    }
    return it->second;
}

bool authorized(const TxnTables::View &view) {
    return view.viewer.table && view.viewer.rule && view.viewer.identity;
}

// One matching subscription of a target on one table of the transaction.
struct Match {
    const std::string *id;
    int view;
};
// Per table index of the transaction.
using Matches = std::vector<std::vector<Match>>;

Matches match(const common::Transaction &txn, TxnTables &t, const FanoutTarget &target,
              const rules::RuleSet &rules) {
    Matches m(t.tables.size());
    for (size_t i = 0; i < t.tables.size(); ++i) {
        auto it = target.subs->find(t.tables[i]);
        if (it == target.subs->end()) continue;
        for (const session::SubscriptionEntry &e : it->second)
            if (txn.lsn > e.live_after)
                m[i].push_back(Match{&e.id, view_index(t, static_cast<int>(i), target.identity, e, rules)});
    }
    return m;
}

// A byte string equal for two targets exactly when their matches, views and encodings
// are equal. By the views' keys, not their indexes: the key names the same frame on
// every service thread (SharedFrames).
std::string audience_key(const TxnTables &t, const Matches &m, protocol::Encoding encoding) {
    std::string key(1, static_cast<char>(encoding));
    for (size_t i = 0; i < m.size(); ++i) {
        for (const Match &match : m[i]) {
            key += *match.id;
            key += '\0';
            key += t.views[match.view].key;
            key += '\0';
        }
        key += '\1';
    }
    return key;
}

bool matches_anything(const Matches &m) {
    for (const auto &matches : m)
        if (!matches.empty()) return true;
    return false;
}

rules::Shown shown_of(const common::Transaction &txn, TxnTables &t, size_t i, int view) {
    auto [it, added] = t.shown.emplace(std::make_pair(i, view), rules::Shown::Hidden);
    if (added && authorized(t.views[view]))
        it->second = rules::classify(txn.changes[i], t.views[view].viewer, t.views[view].visible);
    return it->second;
}

const std::string &body_of(const common::Transaction &txn, TxnTables &t, size_t i, rules::Shown shown,
                           const TxnTables::View &view, protocol::Encoding encoding) {
    std::string variant{static_cast<char>(encoding), static_cast<char>(shown)};
    variant += view.columns_key;
    std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
    if (body.empty()) body = protocol::encode_change_body(rules::project(txn.changes[i], shown, view.visible), encoding);
    return body;
}

// A TRUNCATE as an audience sees it: only the emptied tables it has a rule on.
const std::string &truncate_body_of(const common::Transaction &txn, TxnTables &t, size_t i,
                                    const std::vector<int> &tables, protocol::Encoding encoding) {
    std::string variant{static_cast<char>(encoding), 't'};
    for (int ti : tables) variant += std::to_string(ti) + ",";
    std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
    if (body.empty()) {
        common::Change cut = txn.changes[i];
        cut.relations.clear();
        for (const common::RelationName &r : txn.changes[i].relations)
            for (int ti : tables)
                if (t.tables[ti] == r.schema + "." + r.table) cut.relations.push_back(r);
        body = protocol::encode_change_body(cut, encoding);
    }
    return body;
}

// txn's frame for one audience; nullptr when it shows this audience nothing.
protocol::Frame encode_frame(const common::Transaction &txn, TxnTables &t, const Matches &m,
                             protocol::Encoding encoding) {
    protocol::ChangesFrame f(txn, encoding);
    for (size_t i = 0; i < txn.changes.size(); ++i) {
        const std::vector<int> &tables = t.change_tables[i];
        if (tables.empty()) continue;
        if (txn.changes[i].op == common::Op::Message) {
            // A livesync.notify message: to every subscription on its channel (the token
            // allowed it at subscribe time), as it was sent.
            std::vector<const std::string *> ids;
            for (const Match &match : m[tables[0]]) ids.push_back(match.id);
            if (ids.empty()) continue;
            std::string &body = t.bodies[std::make_pair(i, std::string{static_cast<char>(encoding), 'm'})];
            if (body.empty()) body = protocol::encode_change_body(txn.changes[i], encoding);
            f.add_entry(ids, body);
            continue;
        }
        if (txn.changes[i].op == common::Op::Truncate) {
            // Tagged with every authorized subscription on an emptied table, once each.
            std::vector<const std::string *> ids;
            std::vector<int> shown_tables;
            for (int ti : tables) {
                bool any_here = false;
                for (const Match &match : m[ti])
                    if (authorized(t.views[match.view])) {
                        ids.push_back(match.id);
                        any_here = true;
                    }
                if (any_here) shown_tables.push_back(ti);
            }
            if (ids.empty()) continue;
            std::sort(ids.begin(), ids.end(), [](const std::string *a, const std::string *b) { return *a < *b; });
            ids.erase(std::unique(ids.begin(), ids.end(),
                                  [](const std::string *a, const std::string *b) { return *a == *b; }),
                      ids.end());
            f.add_entry(ids, truncate_body_of(txn, t, i, shown_tables, encoding));
            continue;
        }
        if (txn.changes[i].op == common::Op::Schema) {
            // DDL on the table: to every authorized subscription on it, with the columns
            // its view may see; subscriptions with the same visible columns share an entry.
            std::vector<std::pair<int, std::vector<const std::string *>>> groups;  // (view, ids)
            for (const Match &match : m[tables[0]]) {
                if (!authorized(t.views[match.view])) continue;
                auto same = std::find_if(groups.begin(), groups.end(), [&](const auto &g) {
                    return t.views[g.first].columns_key == t.views[match.view].columns_key;
                });
                if (same == groups.end()) groups.push_back({match.view, {match.id}});
                else same->second.push_back(match.id);
            }
            for (const auto &[view, ids] : groups) {
                std::string variant{static_cast<char>(encoding), 's'};
                variant += t.views[view].columns_key;
                std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
                if (body.empty())
                    body = protocol::encode_change_body(rules::project_schema(txn.changes[i], t.views[view].visible), encoding);
                f.add_entry(ids, body);
            }
            continue;
        }
        // One table: group its subscriptions by how the change appears to each, in the
        // order of their first (sorted) id.
        struct Group {
            rules::Shown shown;
            int view;
            std::vector<const std::string *> ids;
        };
        std::vector<Group> groups;
        for (const Match &match : m[tables[0]]) {
            rules::Shown shown = shown_of(txn, t, i, match.view);
            if (shown == rules::Shown::Hidden) continue;
            auto same = std::find_if(groups.begin(), groups.end(), [&](const Group &g) {
                return g.shown == shown && t.views[g.view].columns_key == t.views[match.view].columns_key;
            });
            if (same == groups.end()) groups.push_back(Group{shown, match.view, {match.id}});
            else same->ids.push_back(match.id);
        }
        for (const Group &g : groups)
            f.add_entry(g.ids, body_of(txn, t, i, g.shown, t.views[g.view], encoding));
    }
    if (f.entries() == 0) return nullptr;
    return f.finish();
}

}  // namespace

protocol::Frame encode_empty_part(const common::Transaction &txn, protocol::Encoding encoding) {
    return protocol::ChangesFrame(txn, encoding).finish();
}

std::vector<std::string> change_tables(const common::Change &change) {
    switch (change.op) {
        case common::Op::Insert:
        case common::Op::Update:
        case common::Op::Delete:
        case common::Op::Schema:
            if (rules::PublishedTables::is_config_change(change)) return {};
            return {change.schema + "." + change.table};
        case common::Op::Truncate: {
            std::vector<std::string> names;
            for (const common::RelationName &r : change.relations) names.push_back(r.schema + "." + r.table);
            return names;
        }
        case common::Op::Message: return {protocol::channel_key(change.channel)};
    }
    return {};
}

namespace {

std::vector<PlannedFrame> plan(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                               const rules::PublishedTables &tables, const rules::RuleSet &rules,
                               SharedFrames *shared, size_t txn_index) {
    std::vector<PlannedFrame> frames;
    if (targets.empty()) return frames;
    TxnTables t = index_tables(txn, tables);
    constexpr size_t kNoFrame = SIZE_MAX;  // an audience that sees none of the changes
    std::unordered_map<std::string, size_t> frame_of_audience;
    for (const FanoutTarget &target : targets) {
        Matches m = match(txn, t, target, rules);
        if (!matches_anything(m)) continue;
        std::string audience = audience_key(t, m, target.encoding);
        auto [it, added] = frame_of_audience.emplace(audience, kNoFrame);
        if (added) {
            bool built = false;  // here, not by another thread (SharedFrames)
            auto build = [&]() -> std::optional<protocol::Frame> {
                built = true;
                if (protocol::Frame f = encode_frame(txn, t, m, target.encoding)) return f;
                return std::nullopt;
            };
            std::optional<protocol::Frame> frame = shared ? shared->get(txn_index, audience, build) : build();
            if (frame) {
                it->second = frames.size();
                frames.push_back(PlannedFrame{std::move(*frame), {}, built});
            }
        }
        if (it->second != kNoFrame) frames[it->second].targets.push_back(target.key);
    }
    return frames;
}

}  // namespace

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::LiveState &live) {
    return plan(txn, targets, live.tables, live.rules, nullptr, 0);
}

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::LiveState &live, SharedFrames *shared, size_t txn_index) {
    return plan(txn, targets, live.tables, live.rules, shared, txn_index);
}

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::PublishedTables &tables, const rules::RuleSet &rules) {
    return plan(txn, targets, tables, rules, nullptr, 0);
}

}  // namespace livesync::stream
