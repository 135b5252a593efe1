// The stream as the lws thread knows it: whether a snapshot arrived, the position every
// new subscription is live from, and the published tables as of that position.
#pragma once

#include <cstdint>

#include "common/lsn.hpp"
#include "sidecar/rules/rule_set.hpp"
#include "sidecar/rules/config_history.hpp"
#include "sidecar/rules/published_tables.hpp"

namespace livesync::rules {

struct LiveState {
    bool ready = false;     // a StreamReset arrived: tables and position are known
    uint64_t position = 0;  // highest commit LSN applied (or the snapshot's)
    common::StreamId last_id;  // last stream entry applied (or the snapshot's tail)
    PublishedTables tables;
    rules::RuleSet rules;  // access rules, as of the same position
    // Every config version kept, the current one (tables, rules) included: what a
    // replayed transaction is judged by (stream/config_history.hpp).
    ConfigHistory history;
};

}  // namespace livesync::rules
