#include "sidecar/stream/resync.hpp"

#include "common/lsn.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/protocol/server_frame.hpp"

namespace livesync::stream {

void require_resync(session::Session &s, const rules::LiveState &live) {
    s.set_live_after_all(live.position);
    // A page still with the replay reader is dropped when it comes back (replay inactive);
    // every entry the live reader applies from here on is above live.last_id.
    s.replay = session::ReplayCursor{};
    s.live_skip_through = live.last_id;
    s.send_text(protocol::encode_resync_required(live.position));
}

size_t resync_after_gap(const StreamReset &reset, const rules::LiveState &live, session::SessionTable &sessions,
                        ops::Counters &counters, bool count_gap) {
    size_t told = 0;
    sessions.for_each([&](session::Session &s) {
        // Not greeted: no position was promised yet (its welcome will carry the new one).
        if (!s.greeted() || s.close_request()) return;
        require_resync(s, live);
        ++told;
    });
    counters.live_resyncs.fetch_add(told);
    if (!count_gap) return told;
    // Once for the gap, whatever the number of service threads: each tells its own
    // sessions (livesync_live_resyncs_total counts them all).
    counters.live_gaps.fetch_add(1);
    ops::warn("stream gap: entries after the last one read are gone; live sessions told resync_required",
              {{"after", reset.gap_after ? common::format_stream_id(*reset.gap_after) : std::string("none")},
               {"tail", common::format_stream_id(reset.tail)},
               {"lsn", common::format_lsn(live.position)}});
    return told;
}

}  // namespace livesync::stream
