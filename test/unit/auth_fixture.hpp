// Test helper: a Gatekeeper that lets anonymous clients in (as role "anonymous"), an
// audit sink that remembers events, and rules granted straight into a LiveState.
#pragma once

#include <string>
#include <vector>

#include "sidecar/session/gatekeeper.hpp"
#include "sidecar/rules/live_state.hpp"

namespace livesync::test {

struct FakeAudit : sidecar::auth::AuditSink {
    std::vector<sidecar::auth::AuditEvent> events;
    void record(sidecar::auth::AuditEvent e) override { events.push_back(std::move(e)); }
    size_t count(const std::string &kind) const {
        size_t n = 0;
        for (const auto &e : events) n += e.kind == kind;
        return n;
    }
};

inline sidecar::auth::AuthConfig anonymous_config() {
    sidecar::auth::AuthConfig c;
    c.allow_anonymous = true;
    return c;
}

struct AnonymousGate {
    explicit AnonymousGate(sidecar::auth::AuthConfig config = anonymous_config())
        : authenticator(std::move(config)), gate(authenticator, audit, counters) {}
    FakeAudit audit;
    ops::Counters counters;
    sidecar::auth::Authenticator authenticator;
    session::Gatekeeper gate;
};

// Grants role on "schema.table" with a filter tree (JSON) and optional columns.
inline void grant(rules::LiveState &live, const std::string &role, const std::string &table,
                  const std::string &filter = R"({"const":true})", const std::string &columns = "null") {
    auto dot = table.find('.');
    std::string json = "{\"role\":\"" + role + "\",\"schema\":\"" + table.substr(0, dot) + "\",\"table\":\"" +
                       table.substr(dot + 1) + "\",\"filter\":" + filter + ",\"columns\":" + columns + "}";
    std::vector<std::string> errors;
    auto one = rules::RuleSet::from_hash({{role + "|" + table, json}}, &errors);
    ASSERT_TRUE(errors.empty()) << errors[0];
    rules::Rule rule = *one.find(role, table);
    live.rules.set(std::move(rule));
    // In force from the start of the stream, for replayed transactions too.
    live.history.record(common::StreamId{0, 0},
                        std::make_shared<const rules::ConfigVersion>(rules::ConfigVersion{live.tables, live.rules}));
}

}  // namespace livesync::test
