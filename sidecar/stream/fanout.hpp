// Fan-out of one transaction to the sessions that subscribed to its tables. The frame a
// session receives depends only on which of its subscription ids match each table of
// the transaction and on what each may see (auth/access.hpp: role rule, tenant, the
// claims the rule reads, the subscription's own filter and columns), so sessions with
// equal matches and views share one encoded frame: each
// distinct frame is built once and the bytes are shared (std::shared_ptr), whatever the
// number of sessions.
#pragma once

#include <cstddef>
#include <vector>

#include "common/change_batch.hpp"
#include "sidecar/protocol/frame.hpp"
#include "sidecar/protocol/encoding.hpp"
#include "sidecar/session/session.hpp"
#include "sidecar/rules/live_state.hpp"
#include "sidecar/stream/shared_frames.hpp"

namespace livesync::stream {

struct FanoutTarget {
    size_t key;  // caller's handle for the target, returned in PlannedFrame::targets
    const session::SubsByTable *subs;
    const rules::Identity *identity = nullptr;  // nullptr: sees nothing (default deny)
    protocol::Encoding encoding = protocol::Encoding::Json;  // frames are encoded once per encoding too
};

struct PlannedFrame {
    protocol::Frame frame;
    std::vector<size_t> targets;  // keys of the targets that receive this frame
    bool built = true;            // encoded for this call; false: another thread's (SharedFrames)
};

// The qualified tables a change belongs to for subscriptions: its own table (a row
// change or a schema change), every table a TRUNCATE emptied, the channel of a notify
// message, none for config rows (never sent).
std::vector<std::string> change_tables(const common::Change &change);

// Plans the "changes" frames of txn for targets. Config changes (livesync.tables and
// livesync.rules) are never included; a target with no visible change gets no frame. A
// subscription matches a change when it is on one of change_tables(change) and txn.lsn
// > its live_after; the change then appears to it as rules::classify() says for its
// view (live.tables' scope, live.rules' rule for the target's role, the target's
// identity and the subscription's scope), cut to the visible columns. Targets with the
// same subscription ids, views and encoding share one frame, encoded once.
std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::LiveState &live);
// The same, taking the frames other service threads built for the same audiences of this
// transaction (txn_index: its index in the stream entry) from shared, and leaving there
// the ones built here.
std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::LiveState &live, SharedFrames *shared, size_t txn_index);
// The "changes" frame of a split transaction's part with no change in it: what a session
// that got earlier parts receives when the final one has nothing for it.
protocol::Frame encode_empty_part(const common::Transaction &txn, protocol::Encoding encoding);

// The same, by a given config version (a replayed transaction: the version in force at
// its commit).
std::vector<PlannedFrame> plan_fanout(const common::Transaction &txn, const std::vector<FanoutTarget> &targets,
                                      const rules::PublishedTables &tables, const rules::RuleSet &rules);

}  // namespace livesync::stream
