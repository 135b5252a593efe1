// admin/: what operators do to live sessions — the admin HTTP API (/v1/admin/*), the
// control stream every sidecar follows, and the per-user activity report.
//
// The control stream "<prefix>control": entries {kind=kick, client_id=..|user=..} from
// livesync.kick() in SQL or from any sidecar's admin API, {kind=ban, address=..}, and
// {kind=replace, client_id, generation, holder} from the client-id claim of a hello on
// another sidecar (client_handover.hpp).
// A thread of its own follows it with XREAD BLOCK, starting after the entry that was
// newest when livesyncd started (old kicks are never replayed), and hands each entry to
// the server, which acts on the sessions it holds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/lsn.hpp"
#include "common/redis_url.hpp"
#include "sidecar/redis/redis_worker.hpp"

namespace livesync::admin {

struct ControlCommand {
    std::string kind;       // "kick" | "ban" | "replace"
    std::string client_id;  // kick: one client id; replace: the id that said hello elsewhere
    std::string user;       // kick: every session of this sub
    std::string address;    // ban: close this address's sessions
    std::string origin;     // the sidecar that wrote it (it acted already), or empty
    uint64_t generation = 0;  // replace: the new session's generation of client_id
    std::string holder;       // replace: the sidecar of the new session
};

// A control entry's fields → command; nullopt (and *why, if given) when kind is unknown,
// the target is missing, or a replace's generation is not a positive decimal integer.
std::optional<ControlCommand> parse_control(const std::vector<std::pair<std::string, std::string>> &fields,
                                            std::string *why = nullptr);

struct ControlConfig {
    common::RedisUrl url;
    std::string stream_key;  // "<prefix>control"
    int block_ms = 2000;
};

class ControlReader {
public:
    ControlReader(ControlConfig config, std::function<void(ControlCommand)> deliver);
    ~ControlReader();
    void start();
    void stop();  // returns within one XREAD BLOCK period

private:
    // At the first connect: last_id_ = the newest entry ("$" that survives reconnects).
    bool find_start(redis::Connection &conn, std::string *error);
    bool read_once(redis::Connection &conn, std::string *error);
    ControlConfig config_;
    std::function<void(ControlCommand)> deliver_;
    std::optional<common::StreamId> last_id_;  // set once, at the first connect
    redis::RedisWorker worker_;  // last: stopped before the members its thread uses
};

}  // namespace livesync::admin
