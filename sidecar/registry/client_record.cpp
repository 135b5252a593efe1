#include "sidecar/registry/client_record.hpp"

#include <chrono>

#include "common/change_batch.hpp"

namespace livesync::registry {

namespace {

// KEYS[1] client hash; ARGV[1] generation, then field, value pairs. Generations are
// below 2^53, so Lua's numbers compare them exactly.
constexpr const char *kUpsertScript =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'generation')) or 0 "
    "if cur > tonumber(ARGV[1]) then return 0 end "
    "redis.call('HSET', KEYS[1], 'generation', ARGV[1], unpack(ARGV, 2)) "
    "return 1";

// KEYS[1] client hash, KEYS[2] this sidecar's client set, KEYS[3] holder hash;
// ARGV[1] client id, ARGV[2] sidecar id, ARGV[3] generation ('0': any of this sidecar).
// An older entry of this sidecar goes too: its session was replaced here by the one
// that ended, whose own record may never have been written (updates are coalesced).
constexpr const char *kRemoveScript =
    "local f = redis.call('HMGET', KEYS[1], 'sidecar', 'generation') "
    "if f[1] == ARGV[2] and (ARGV[3] == '0' or (tonumber(f[2]) or 0) <= tonumber(ARGV[3])) then "
    "redis.call('DEL', KEYS[1]) end "
    "redis.call('SREM', KEYS[2], ARGV[1]) "
    "if ARGV[3] ~= '0' and redis.call('HGET', KEYS[3], 'generation') == ARGV[3] then "
    "redis.call('HDEL', KEYS[3], 'sidecar') end "
    "return 1";

}  // namespace

std::vector<std::string> upsert_client_command(const Keys &keys, const ClientRecord &r) {
    std::string subs = "[";
    for (size_t i = 0; i < r.subscriptions.size(); ++i) {
        if (i) subs += ',';
        common::append_json_string(subs, r.subscriptions[i]);
    }
    subs += ']';
    std::vector<std::string> cmd{"EVAL",
                                 kUpsertScript,
                                 "1",
                                 keys.client(r.client_id),
                                 std::to_string(r.generation),
                                 "sidecar",
                                 keys.sidecar_id,
                                 "address",
                                 r.address,
                                 "connected_at",
                                 std::to_string(r.connected_at_ms),
                                 "last_activity",
                                 std::to_string(r.last_activity_ms),
                                 "subscriptions",
                                 subs};
    for (const auto &[field, value] : {std::pair{"user", &r.user}, {"tenant", &r.tenant}, {"role", &r.role}})
        if (*value) {
            cmd.emplace_back(field);
            cmd.push_back(**value);
        }
    return cmd;
}

std::vector<std::string> remove_client_command(const Keys &keys, const std::string &client_id, uint64_t generation) {
    return {"EVAL",
            kRemoveScript,
            "3",
            keys.client(client_id),
            keys.sidecar_clients(),
            keys.client_holder(client_id),
            client_id,
            keys.sidecar_id,
            std::to_string(generation)};
}

std::string heartbeat_json(const std::string &sidecar_id, const std::string &advertise_url, int64_t started_at_ms,
                           const std::string &presence_token) {
    std::string out = "{\"id\":";
    common::append_json_string(out, sidecar_id);
    out += ",\"url\":";
    common::append_json_string(out, advertise_url);
    out += ",\"started_at\":";
    out += std::to_string(started_at_ms);
    if (!presence_token.empty()) {
        out += ",\"presence_token\":";
        common::append_json_string(out, presence_token);
    }
    out += '}';
    return out;
}

int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace livesync::registry
