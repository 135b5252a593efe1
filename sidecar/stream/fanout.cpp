#include "sidecar/stream/fanout.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/lsn.hpp"
#include "sidecar/protocol/client_frame.hpp"
#include "sidecar/protocol/msgpack_writer.hpp"
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
        std::string key;          // table index '#' viewer_key (length-prefixed parts)
    };
    std::vector<View> views;
    std::unordered_map<std::string, int> view_of_key;
    std::map<std::pair<size_t, int>, sidecar::auth::Shown> shown;  // (change, view) → how it appears
    // (change, encoding + variant) → JSON minus '{', or msgpack: [field count byte][fields]
    std::map<std::pair<size_t, std::string>, std::string> bodies;
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
    auto [it, added] = t.view_of_key.emplace(key, static_cast<int>(t.views.size()));
    if (added) {
        TxnTables::View view{v, sidecar::auth::visible_columns(v), {}, std::move(key)};
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

sidecar::auth::Shown shown_of(const common::Transaction &txn, TxnTables &t, size_t i, int view) {
    auto [it, added] = t.shown.emplace(std::make_pair(i, view), sidecar::auth::Shown::Hidden);
    if (added && authorized(t.views[view]))
        it->second = sidecar::auth::classify(txn.changes[i], t.views[view].viewer, t.views[view].visible);
    return it->second;
}

// A change's fields without the enclosing object: JSON text after the '{', or msgpack
// fields after one byte holding their count.
std::string change_body(const common::Change &change, protocol::Encoding encoding) {
    std::string out;
    if (encoding == protocol::Encoding::Msgpack) {
        out.push_back('\0');
        out[0] = static_cast<char>(protocol::append_change_fields_msgpack(out, change));
        return out;
    }
    common::append_change_json(out, change);
    out.erase(0, 1);
    return out;
}

const std::string &body_of(const common::Transaction &txn, TxnTables &t, size_t i, sidecar::auth::Shown shown,
                           const TxnTables::View &view, protocol::Encoding encoding) {
    std::string variant{static_cast<char>(encoding), static_cast<char>(shown)};
    variant += view.columns_key;
    std::string &body = t.bodies[std::make_pair(i, std::move(variant))];
    if (body.empty()) body = change_body(sidecar::auth::project(txn.changes[i], shown, view.visible), encoding);
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
        body = change_body(cut, encoding);
    }
    return body;
}

// The frame being built: its bytes and, for msgpack, where the changes array's count
// goes once the entries are known.
struct FrameOut {
    protocol::Encoding encoding;
    std::string bytes;
    size_t changes_count_at = 0;
    uint32_t entries = 0;
};

void append_entry(FrameOut &f, const std::vector<const std::string *> &ids, const std::string &body) {
    ++f.entries;
    if (f.encoding == protocol::Encoding::Msgpack) {
        protocol::MsgpackOut w(f.bytes);
        w.map(1u + static_cast<unsigned char>(body[0]));
        w.str("sub");
        w.array(static_cast<uint32_t>(ids.size()));
        for (const std::string *id : ids) w.str(*id);
        f.bytes.append(body, 1, std::string::npos);
        return;
    }
    std::string &out = f.bytes;
    if (f.entries > 1) out += ',';
    out += "{\"sub\":[";
    for (size_t j = 0; j < ids.size(); ++j) {
        if (j) out += ',';
        common::append_json_string(out, *ids[j]);
    }
    out += "],";
    out += body;
}

void begin_frame_msgpack(FrameOut &f, const common::Transaction &txn) {
    bool split = txn.part != 0 || !txn.final;
    protocol::MsgpackOut w(f.bytes);
    w.map(split ? 7 : 5);
    w.str("type");
    w.str("changes");
    w.str("lsn");
    w.str(common::format_lsn(txn.lsn));
    w.str("xid");
    w.uint64(txn.xid);
    w.str("commit_time");
    w.timestamp(txn.commit_sec, txn.commit_nsec);
    if (split) {
        w.str("part");
        w.uint64(txn.part);
        w.str("final");
        w.boolean(txn.final);
    }
    w.str("changes");
    f.changes_count_at = w.array32_placeholder();
}

void begin_frame_json(FrameOut &f, const common::Transaction &txn) {
    std::string &out = f.bytes;
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
}

std::string encode_frame(const common::Transaction &txn, TxnTables &t, const Matches &m,
                         protocol::Encoding encoding, bool *any) {
    FrameOut f{encoding, std::string(protocol::kFrameHeadroom, '\0')};
    if (encoding == protocol::Encoding::Msgpack) begin_frame_msgpack(f, txn);
    else begin_frame_json(f, txn);
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
            if (body.empty()) body = change_body(txn.changes[i], encoding);
            append_entry(f, ids, body);
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
            append_entry(f, ids, truncate_body_of(txn, t, i, shown_tables, encoding));
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
                    body = change_body(sidecar::auth::project_schema(txn.changes[i], t.views[view].visible), encoding);
                append_entry(f, ids, body);
            }
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
        for (const Group &g : groups)
            append_entry(f, g.ids, body_of(txn, t, i, g.shown, t.views[g.view], encoding));
    }
    if (encoding == protocol::Encoding::Msgpack) protocol::MsgpackOut(f.bytes).patch_count(f.changes_count_at, f.entries);
    else f.bytes += "]}";
    *any = f.entries != 0;
    return std::move(f.bytes);
}

}  // namespace

protocol::Frame encode_empty_part(const common::Transaction &txn, protocol::Encoding encoding) {
    FrameOut f{encoding, std::string(protocol::kFrameHeadroom, '\0')};
    if (encoding == protocol::Encoding::Msgpack) {
        begin_frame_msgpack(f, txn);
        protocol::MsgpackOut(f.bytes).patch_count(f.changes_count_at, 0);
    } else {
        begin_frame_json(f, txn);
        f.bytes += "]}";
    }
    return protocol::adopt_frame(std::move(f.bytes));
}

std::vector<std::string> change_tables(const common::Change &change) {
    switch (change.op) {
        case common::Op::Insert:
        case common::Op::Update:
        case common::Op::Delete:
        case common::Op::Schema:
            if (PublishedTables::is_config_change(change)) return {};
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
                               const PublishedTables &tables, const sidecar::auth::RuleSet &rules,
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
            auto build = [&]() -> std::optional<protocol::Frame> {
                bool any = false;
                std::string bytes = encode_frame(txn, t, m, target.encoding, &any);
                // Not a const object: lws_write() fills the headroom in place.
                if (any) return protocol::adopt_frame(std::move(bytes));
                return std::nullopt;
            };
            std::optional<protocol::Frame> frame = shared ? shared->get(txn_index, audience, build) : build();
            if (frame) {
                it->second = frames.size();
                frames.push_back(PlannedFrame{std::move(*frame), {}});
            }
        }
        if (it->second != kNoFrame) frames[it->second].targets.push_back(target.key);
    }
    return frames;
}

}  // namespace

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const LiveState &live) {
    return plan(txn, targets, live.tables, live.rules, nullptr, 0);
}

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const LiveState &live, SharedFrames *shared, size_t txn_index) {
    return plan(txn, targets, live.tables, live.rules, shared, txn_index);
}

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const PublishedTables &tables, const sidecar::auth::RuleSet &rules) {
    return plan(txn, targets, tables, rules, nullptr, 0);
}

}  // namespace livesync::stream
