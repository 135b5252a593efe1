// What the frame handler calls for a subscribe with "snapshot": true
// (snapshot/snapshot_coordinator.hpp implements it; unit tests use a fake).
#pragma once

#include <string>

namespace livesync::session {

class Session;

class SnapshotStarter {
public:
    virtual ~SnapshotStarter() = default;
    // False when this sidecar cannot read snapshots (no --postgres).
    virtual bool snapshots_available() const = 0;
    // s has the subscription `id` (its `subscribed` frame is queued): send its rows, then
    // snapshot_end, then the transactions they do not contain.
    virtual void begin_snapshot(Session &s, const std::string &id) = 0;
    // A subscription ended (unsubscribe) or a session closed (s: nullptr): a query nobody
    // waits for any more is cancelled now, and s's stream frames flow again if none of its
    // subscriptions still sends rows.
    virtual void subscriptions_changed(Session *s) = 0;
};

}  // namespace livesync::session
