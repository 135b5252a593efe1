// One WebSocket client session: who the client is, what it subscribed to, and the
// frames waiting to be written. Owned by SessionTable on the lws service thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/change_batch.hpp"
#include "common/lsn.hpp"
#include "sidecar/rules/access.hpp"
#include "sidecar/rules/identity.hpp"
#include "sidecar/protocol/frame.hpp"
#include "sidecar/protocol/encoding.hpp"
#include "sidecar/session/send_queue.hpp"
#include "sidecar/session/xid_snapshot.hpp"

struct lws;

namespace livesync::session {

struct SubscriptionEntry {
    std::string id;
    // The subscription receives transactions with commit LSN above this: the stream
    // position when it was acknowledged (so a transaction split across entries is
    // delivered whole or not at all).
    uint64_t live_after = 0;
    // The client's own filter and columns (auth/access.hpp); nullptr: the whole view
    // its role's rule allows.
    std::shared_ptr<const rules::SubscriptionScope> scope;

    // A subscription made with "snapshot": true (snapshot/snapshot_coordinator.hpp).
    // Rows: its snapshot rows are being sent; nothing of the stream reaches it, and the
    // session's stream frames wait (its replay cursor holds it). Ready: snapshot_end was
    // queued; it becomes live (live_after = start_after) when the session's replay is
    // rewound to start_after. None: an ordinary subscription.
    enum class Snapshot : char { None, Rows, Ready };
    Snapshot snapshot = Snapshot::None;
    uint64_t snapshot_start_after = 0;
    uint64_t snapshot_job = 0;  // Rows: the query sending them (a re-made subscription of the same id has another)
    // After its snapshot: transactions the snapshot rows already contain (by xid) are not
    // sent to it; dropped once the stream passed cut->wal_bound.
    std::shared_ptr<const session::SnapshotCut> cut;
    // Stream entries up to here already reached this subscription: set on the others when
    // the session's replay is rewound for a snapshot subscription.
    common::StreamId skip_through;
};

// Qualified table → its subscriptions, sorted by id. std::map keeps the order stable so
// that equal subscription sets compare equal in fan-out.
using SubsByTable = std::map<std::string, std::vector<SubscriptionEntry>>;

// Where a resuming session stands (stream/replay.hpp drives it). While `active`, live
// fan-out skips the session and replay pages feed it instead; when the replay reaches
// the live position the session goes live, skipping live entries up to `through`
// (already sent by the replay): no gap, no duplicate. resync_required (stream/resync.hpp)
// resets it: the replay is abandoned and the session is live from the given position.
//
// The same cursor serves a live session that fell behind (stream/replay.hpp, catch-up):
// instead of queueing more than the high-water mark for it, live fan-out hands it to
// the replay, which feeds it from the stream at its own pace and goes live again
// without telling the client (`announce` is false: no caught_up frame).
struct ReplayCursor {
    bool active = false;
    bool announce = true;            // a client resume: send caught_up at the switch to live
    bool page_outstanding = false;   // a page request is with the replay reader
    bool waiting_for_drain = false;  // next page waits until the send queue drains
    bool waiting_for_slot = false;   // next page waits for a replay slot (stream/replay.hpp)
    common::StreamId through;        // every entry up to here was sent (or did not match)
};

// Close reason for a client that fell more than the send-queue bound behind.
inline constexpr std::string_view kOverflowReason = "send queue overflow: reading too slowly; resume with last_lsn";

// Close reason for a client whose send queue did not move for the stall timeout.
inline constexpr std::string_view kStalledReason = "client stopped reading: send queue stalled; resume with last_lsn";

// Monotonic milliseconds, for queue progress.
int64_t steady_now_ms();

struct CloseRequest {
    uint16_t code = 1000;
    std::string reason;
};

class Session {
public:
    // wake is called whenever the session has something to write (a queued frame or a
    // close request); the lws layer turns it into lws_callback_on_writable().
    Session(uint64_t serial, struct lws *wsi, std::string address, int64_t connected_at_ms,
            size_t max_queue_bytes, std::function<void()> wake);

    uint64_t serial() const { return serial_; }
    struct lws *wsi() const { return wsi_; }
    const std::string &address() const { return address_; }
    int64_t connected_at_ms() const { return connected_at_ms_; }

    bool greeted() const { return client_id_.has_value(); }
    const std::string &client_id() const { return *client_id_; }
    void set_client_id(std::string id) { client_id_ = std::move(id); }

    // Who the session is (auth/); nullptr until its token (or anonymous access) was
    // accepted. Fan-out shows an unauthenticated session nothing.
    const rules::Identity *identity() const { return identity_.get(); }
    void set_identity(rules::Identity id) {
        identity_ = std::make_shared<const rules::Identity>(std::move(id));
    }

    bool has_subscription(const std::string &id) const { return table_of_.count(id) != 0; }
    size_t subscription_count() const { return table_of_.size(); }
    void add_subscription(const std::string &id, const std::string &table, uint64_t live_after,
                          std::shared_ptr<const rules::SubscriptionScope> scope = nullptr);
    // Returns the table the subscription was on, or nullopt if there was none.
    std::optional<std::string> remove_subscription(const std::string &id);
    const SubsByTable &subs_by_table() const { return subs_by_table_; }
    std::vector<std::string> subscribed_tables() const;
    // After resync_required: every subscription is live from lsn.
    void set_live_after_all(uint64_t lsn);
    SubscriptionEntry *find_subscription(const std::string &id);

    // The subscriptions a stream transaction of entry `entry` may reach: all of them, or
    // (while snapshot subscriptions are in progress or filtered) a copy in `scratch`
    // without those still sending rows, those whose snapshot contains the transaction and
    // those the entry already reached.
    const SubsByTable &subs_for(const common::Transaction &txn, common::StreamId entry, SubsByTable &scratch) const;
    // Whether any subscription is still sending snapshot rows / is ready to go live.
    bool has_snapshot(SubscriptionEntry::Snapshot state) const;
    // Recomputes whether subs_for needs to filter, dropping cuts the stream has passed
    // (every transaction up to `position` was applied) and skip marks at or below `through`.
    void refresh_snapshot_filters(uint64_t position, common::StreamId through);
    bool snapshot_filters() const { return snapshot_filters_; }
    void set_snapshot_filters() { snapshot_filters_ = true; }

    // Resume state; and the last stream entry the replay sent, which live fan-out skips
    // up to (entries at or below it went out through the replay).
    ReplayCursor replay;
    common::StreamId live_skip_through;
    // The commit LSN of a split transaction the session got a non-final part of and not
    // yet its final part (0: none). When the final part has nothing for it, it still
    // gets that part's frame, empty (stream/batch_applier.cpp): "final":true is how a
    // client knows the transaction is complete and may remember it as last_lsn.
    uint64_t split_open_lsn = 0;

    enum class SendResult { Queued, Overflow, Closing };
    // Queues a frame. Over the queue bound the queue is dropped and the session asks to
    // be closed with 1008 and kOverflowReason.
    SendResult send(protocol::Frame frame);
    // A server frame built as JSON (protocol/server_frame.hpp), sent in the session's
    // encoding: as is, or transcoded to msgpack.
    void send_text(std::string_view json);
    // An error frame (protocol::encode_error), in the session's encoding; the frame
    // carries its code for livesync_errors_total.
    void send_error(std::string_view code, std::string_view message, const std::optional<std::string> &id);

    // The encoding the client chose with its subprotocol; set once, at ESTABLISHED.
    protocol::Encoding encoding() const { return encoding_; }
    void set_encoding(protocol::Encoding e) { encoding_ = e; }

    // Drops anything queued and asks lws to close the connection with code and reason.
    void request_close(uint16_t code, std::string reason);
    const std::optional<CloseRequest> &close_request() const { return close_; }

    SendQueue &queue() { return queue_; }
    // When the client last took bytes off a non-empty queue (or the queue last became
    // non-empty): a session whose queue has not moved for the stall timeout is closed.
    int64_t queue_progress_ms = 0;
    // Live fan-out waited for this session to drain and it did not (net/server.cpp): it is
    // not waited for again until its queue is below the low-water mark.
    bool pace_excused = false;

    // The text message being assembled from fragments.
    std::string rx;

    // A hello waiting for the client-id ownership check (auth/ownership.hpp), and the
    // messages that arrived meanwhile (bounded; applied in order once it is settled).
    bool hello_pending = false;
    // A vector, not a deque: an empty std::deque already holds 576 bytes, on every idle
    // session; this is short (kMaxHeldMessages) and rarely used.
    std::vector<std::string> held;
    size_t held_bytes = 0;

    // The generation Redis gave this session's client-id claim, set when the claim is
    // answered (admin/security_hub.cpp): a newer session of the id, here or on another
    // sidecar, has a higher one (admin/client_handover.hpp). 0: no claim was made.
    uint64_t claim_generation = 0;

    // Messages in and out since the last activity flush (auth/gatekeeper.cpp), and
    // whether this session was counted as a session of its owner yet.
    uint64_t messages_in = 0;
    uint64_t messages_out = 0;
    bool activity_counted = false;

private:
    uint64_t serial_;
    struct lws *wsi_;
    std::string address_;
    int64_t connected_at_ms_;
    std::optional<std::string> client_id_;
    std::shared_ptr<const rules::Identity> identity_;
    std::map<std::string, std::string> table_of_;  // subscription id → table
    SubsByTable subs_by_table_;
    SendQueue queue_;
    std::optional<CloseRequest> close_;
    std::function<void()> wake_;
    protocol::Encoding encoding_ = protocol::Encoding::Json;
    bool snapshot_filters_ = false;  // some subscription has a snapshot state, cut or skip mark
};

}  // namespace livesync::session
