#include "sidecar/stream/fanout.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/lsn.hpp"
#include "sidecar/stream/published_tables.hpp"

namespace livesync::stream {

namespace {

// The tables of one transaction and, per change, its tables' indexes; plus the views
// (auth::Viewer) its subscriptions have of those tables, each evaluated once per change
// whatever the number of sessions sharing it.
struct TxnTables {
    std::vector<std::string> tables;              // distinct, in order of first appearance
    std::vector<std::vector<int>> change_tables;  // per change: indexes into tables (empty: never sent)
    std::vector<const sidecar::auth::TableScope *> scopes;  // per table; nullptr: not published

    struct View {
        sidecar::auth::Viewer viewer;
        std::optional<std::vector<std::string>> visible;
        std::string columns_key;  // the visible columns, for the body cache
    };
    std::vector<View> views;
    std::unordered_map<std::string, int> view_of_key;
    std::map<std::pair<size_t, int>, sidecar::auth::Shown> shown;  // (change, view) → how it appears
    std::map<std::pair<size_t, std::string>, std::string> bodies;  // (change, variant) → JSON minus '{'
};

TxnTables index_tables(const common::Transaction &txn, const PublishedTables &published) {
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

int view_index(TxnTables &t, int table, const sidecar::auth::Identity *identity,
               const session::SubscriptionEntry &sub, const sidecar::auth::RuleSet &rules) {
    sidecar::auth::Viewer v;
    v.table = t.scopes[table];
    v.rule = identity ? rules.find(identity->role, t.tables[table]) : nullptr;
    v.identity = identity;
    v.scope = sub.scope.get();
    std::string key = std::to_string(table) + '#' + sidecar::auth::viewer_key(v);
    auto [it, added] = t.view_of_key.emplace(std::move(key), static_cast<int>(t.views.size()));
    if (added) {
        TxnTables::View view{v, sidecar::auth::visible_columns(v), {}};
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
              const sidecar::auth::RuleSet &rules) {
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

// A byte string equal for two targets exactly when their matches and views are equal.
std::string audience_key(const Matches &m) {
    std::string key;
    for (size_t i = 0; i < m.size(); ++i) {
        for (const Match &match : m[i]) {
            key += *match.id;
            key += '\0';
            key += std::to_string(match.view);
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

sidecar::auth::Shown shown_of(const common::Transaction &txn, TxnTables &t, size_t i, int view) {
    auto [it, added] = t.shown.emplace(std::make_pair(i, view), sidecar::auth::Shown::Hidden);
    if (added && authorized(t.views[view]))
        it->second = sidecar::auth::classify(txn.changes[i], t.views[view].viewer, t.views[view].visible);
    return it->second;
}

const std::string &body_of(const common::Transaction &txn, TxnTables &t, size_t i, sidecar::auth::Shown shown,
                           const TxnTables::View &view) {
    std::string variant(1, static_cast<char>(shown));
    variant += view.columns_key;
    std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
    if (body.empty()) {
        std::string json;
        common::append_change_json(json, sidecar::auth::project(txn.changes[i], shown, view.visible));
        body.assign(json, 1, std::string::npos);  // without the leading '{'
    }
    return body;
}

// A TRUNCATE as an audience sees it: only the emptied tables it has a rule on.
const std::string &truncate_body_of(const common::Transaction &txn, TxnTables &t, size_t i,
                                    const std::vector<int> &tables) {
    std::string variant = "t";
    for (int ti : tables) variant += std::to_string(ti) + ",";
    std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
    if (body.empty()) {
        common::Change cut = txn.changes[i];
        cut.relations.clear();
        for (const common::RelationName &r : txn.changes[i].relations)
            for (int ti : tables)
                if (t.tables[ti] == r.schema + "." + r.table) cut.relations.push_back(r);
        std::string json;
        common::append_change_json(json, cut);
        body.assign(json, 1, std::string::npos);
    }
    return body;
}

void append_entry(std::string &out, bool &first, const std::vector<const std::string *> &ids, const std::string &body) {
    if (!first) out += ',';
    first = false;
    out += "{\"sub\":[";
    for (size_t j = 0; j < ids.size(); ++j) {
        if (j) out += ',';
        common::append_json_string(out, *ids[j]);
    }
    out += "],";
    out += body;
}

std::string encode_frame(const common::Transaction &txn, TxnTables &t, const Matches &m, bool *any) {
    std::string out(net::kFrameHeadroom, '\0');
    out += "{\"type\":\"changes\",\"lsn\":\"";
    out += common::format_lsn(txn.lsn);
    out += "\",\"xid\":";
    out += std::to_string(txn.xid);
    out += ",\"commit_time\":";
    common::append_timestamp_json(out, txn.commit_sec, txn.commit_nsec);
    if (txn.part != 0 || !txn.final) {
        out += ",\"part\":";
        out += std::to_string(txn.part);
        out += txn.final ? ",\"final\":true" : ",\"final\":false";
    }
    out += ",\"changes\":[";
    bool first = true;
    for (size_t i = 0; i < txn.changes.size(); ++i) {
        const std::vector<int> &tables = t.change_tables[i];
        if (tables.empty()) continue;
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
            append_entry(out, first, ids, truncate_body_of(txn, t, i, shown_tables));
            continue;
        }
        // One table: group its subscriptions by how the change appears to each, in the
        // order of their first (sorted) id.
        struct Group {
            sidecar::auth::Shown shown;
            int view;
            std::vector<const std::string *> ids;
        };
        std::vector<Group> groups;
        for (const Match &match : m[tables[0]]) {
            sidecar::auth::Shown shown = shown_of(txn, t, i, match.view);
            if (shown == sidecar::auth::Shown::Hidden) continue;
            auto same = std::find_if(groups.begin(), groups.end(), [&](const Group &g) {
                return g.shown == shown && t.views[g.view].columns_key == t.views[match.view].columns_key;
            });
            if (same == groups.end()) groups.push_back(Group{shown, match.view, {match.id}});
            else same->ids.push_back(match.id);
        }
        for (const Group &g : groups) append_entry(out, first, g.ids, body_of(txn, t, i, g.shown, t.views[g.view]));
    }
    out += "]}";
    *any = !first;
    return out;
}

}  // namespace

std::vector<std::string> change_tables(const common::Change &change) {
    switch (change.op) {
        case common::Op::Insert:
        case common::Op::Update:
        case common::Op::Delete:
            if (PublishedTables::is_config_change(change)) return {};
            return {change.schema + "." + change.table};
        case common::Op::Truncate: {
            std::vector<std::string> names;
            for (const common::RelationName &r : change.relations) names.push_back(r.schema + "." + r.table);
            return names;
        }
        case common::Op::Message: return {};  // no subscription kind for messages yet
    }
    return {};
}

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const LiveState &live) {
    std::vector<PlannedFrame> frames;
    if (targets.empty()) return frames;
    TxnTables t = index_tables(txn, live.tables);
    constexpr size_t kNoFrame = SIZE_MAX;  // an audience that sees none of the changes
    std::unordered_map<std::string, size_t> frame_of_audience;
    for (const FanoutTarget &target : targets) {
        Matches m = match(txn, t, target, live.rules);
        if (!matches_anything(m)) continue;
        auto [it, added] = frame_of_audience.emplace(audience_key(m), kNoFrame);
        if (added) {
            bool any = false;
            std::string bytes = encode_frame(txn, t, m, &any);
            if (any) {
                it->second = frames.size();
                // Not a const object: lws_write() fills the headroom in place.
                frames.push_back(PlannedFrame{net::Frame(std::make_shared<std::string>(std::move(bytes))), {}});
            }
        }
        if (it->second != kNoFrame) frames[it->second].targets.push_back(target.key);
    }
    return frames;
}

}  // namespace livesync::stream
