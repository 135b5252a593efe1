#include "sidecar/stream/fanout.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "common/lsn.hpp"
#include "sidecar/stream/published_tables.hpp"

namespace livesync::stream {

namespace {

// The tables of one transaction and, per change, its tables' indexes and JSON body.
struct TxnTables {
    std::vector<std::string> tables;              // distinct, in order of first appearance
    std::vector<std::vector<int>> change_tables;  // per change: indexes into tables (empty: never sent)
    std::vector<std::string> change_body;         // per change: append_change_json minus its '{'
};

TxnTables index_tables(const common::Transaction &txn) {
    TxnTables t;
    std::unordered_map<std::string, int> index;
    auto table_index = [&](std::string name) {
        auto [it, added] = index.emplace(name, static_cast<int>(t.tables.size()));
        if (added) t.tables.push_back(std::move(name));
        return it->second;
    };
    t.change_tables.resize(txn.changes.size());
    t.change_body.resize(txn.changes.size());
    for (size_t i = 0; i < txn.changes.size(); ++i) {
        for (const std::string &name : change_tables(txn.changes[i])) t.change_tables[i].push_back(table_index(name));
    }
    return t;
}

const std::string &body_of(const common::Transaction &txn, TxnTables &t, size_t i) {
    std::string &body = t.change_body[i];
    if (body.empty()) {
        std::string json;
        common::append_change_json(json, txn.changes[i]);
        body.assign(json, 1, std::string::npos);  // without the leading '{'
    }
    return body;
}

// The matching subscription ids of one target, per table index of the transaction.
using Matches = std::vector<std::vector<const std::string *>>;

Matches match(const common::Transaction &txn, const TxnTables &t, const session::SubsByTable &subs) {
    Matches m(t.tables.size());
    for (size_t i = 0; i < t.tables.size(); ++i) {
        auto it = subs.find(t.tables[i]);
        if (it == subs.end()) continue;
        for (const session::SubscriptionEntry &e : it->second)
            if (txn.lsn > e.live_after) m[i].push_back(&e.id);
    }
    return m;
}

// A byte string equal for two targets exactly when their matches are equal.
std::string audience_key(const Matches &m) {
    std::string key;
    for (size_t i = 0; i < m.size(); ++i) {
        for (const std::string *id : m[i]) {
            key += *id;
            key += '\0';
        }
        key += '\1';
    }
    return key;
}

bool matches_anything(const Matches &m) {
    for (const auto &ids : m)
        if (!ids.empty()) return true;
    return false;
}

// The subscription ids a change is tagged with: those matching any of its tables, sorted
// and distinct (a TRUNCATE of two subscribed tables names each subscription once).
std::vector<const std::string *> change_subs(const std::vector<int> &tables, const Matches &m) {
    std::vector<const std::string *> ids;
    for (int ti : tables) ids.insert(ids.end(), m[ti].begin(), m[ti].end());
    if (tables.size() > 1) {
        std::sort(ids.begin(), ids.end(), [](const std::string *a, const std::string *b) { return *a < *b; });
        ids.erase(std::unique(ids.begin(), ids.end(), [](const std::string *a, const std::string *b) { return *a == *b; }),
                  ids.end());
    }
    return ids;
}

std::string encode_frame(const common::Transaction &txn, TxnTables &t, const Matches &m) {
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
        std::vector<const std::string *> ids = change_subs(t.change_tables[i], m);
        if (ids.empty()) continue;
        if (!first) out += ',';
        first = false;
        out += "{\"sub\":[";
        for (size_t j = 0; j < ids.size(); ++j) {
            if (j) out += ',';
            common::append_json_string(out, *ids[j]);
        }
        out += "],";
        out += body_of(txn, t, i);
    }
    out += "]}";
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

std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets) {
    std::vector<PlannedFrame> frames;
    if (targets.empty()) return frames;
    TxnTables t = index_tables(txn);
    std::unordered_map<std::string, size_t> frame_of_audience;
    for (const FanoutTarget &target : targets) {
        Matches m = match(txn, t, *target.subs);
        if (!matches_anything(m)) continue;
        auto [it, added] = frame_of_audience.emplace(audience_key(m), frames.size());
        if (added) {
            // Not a const object: lws_write() fills the headroom in place.
            frames.push_back(PlannedFrame{net::Frame(std::make_shared<std::string>(encode_frame(txn, t, m))), {}});
        }
        frames[it->second].targets.push_back(target.key);
    }
    return frames;
}

}  // namespace livesync::stream
