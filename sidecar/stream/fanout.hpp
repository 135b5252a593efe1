// Fan-out of one transaction to the sessions that subscribed to its tables. The frame a
// session receives depends only on which of its subscription ids match each table of
// the transaction, so sessions with equal matches share one encoded frame: each
// distinct frame is built once and the bytes are shared (std::shared_ptr), whatever the
// number of sessions.
#pragma once

#include <cstddef>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/net/frame.hpp"
#include "sidecar/session/session.hpp"

namespace livesync::stream {

struct FanoutTarget {
    size_t key;  // caller's handle for the target, returned in PlannedFrame::targets
    const session::SubsByTable *subs;
};

struct PlannedFrame {
    net::Frame frame;
    std::vector<size_t> targets;  // keys of the targets that receive this frame
};

// The qualified tables a change belongs to for subscriptions: its own table, every table
// a TRUNCATE emptied, none for config rows and notify messages (never sent).
std::vector<std::string> change_tables(const common::Change &change);

// Plans the "changes" frames of txn for targets. Config changes (livesync.tables) are
// never included; a target with no matching change gets no frame. A subscription
// matches a change when it is on one of change_tables(change) and txn.lsn > its
// live_after.
std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets);

}  // namespace livesync::stream
