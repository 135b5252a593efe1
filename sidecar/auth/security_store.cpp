#include "sidecar/auth/security_store.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <set>

#include "common/change_batch.hpp"
#include "common/redis_keys.hpp"
#include "sidecar/ops/log.hpp"
#include "sidecar/redis/connection.hpp"
#include "sidecar/registry/client_record.hpp"

namespace livesync::sidecar::auth {

namespace {

using redis::Clock;
constexpr size_t kMaxReportOwners = 10000;

// The owner of a client id, claimed or refreshed atomically: a key held by another
// owner is left alone ({0}); otherwise it is (re)set with the TTL, and the id is handed
// to this session (ClaimResult): {1, generation, the other sidecar told or ''}.
// An owner stored in the form before the tenant was part of it (ARGV[5], "sub:<sub>")
// counts as this owner's and is rewritten: the first hello of that sub binds the id to
// its tenant (docs/security.md, "Client ids").
// KEYS: owner, holder hash, generation counter, control stream, registry hash.
// ARGV: owner, TTL seconds, sidecar id, client id, legacy owner. Generations stay below
// 2^53 (µs clock), exact in Lua's numbers; '%.0f' writes them without an exponent.
constexpr const char *kClaimScript =
    "redis.replicate_commands() "
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur and cur ~= ARGV[1] and cur ~= ARGV[5] then return {0} end "
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) "
    "local t = redis.call('TIME') "
    "local prev = redis.call('HMGET', KEYS[2], 'generation', 'sidecar') "
    "local gen = math.max(redis.call('INCR', KEYS[3]), tonumber(t[1]) * 1000000 + tonumber(t[2]), "
    "(tonumber(prev[1]) or 0) + 1) "
    "local g = string.format('%.0f', gen) "
    "redis.call('SET', KEYS[3], g) "
    "redis.call('HSET', KEYS[2], 'generation', g, 'sidecar', ARGV[3]) "
    "redis.call('EXPIRE', KEYS[2], ARGV[2]) "
    "local other = prev[2] "
    "if not other or other == ARGV[3] then other = redis.call('HGET', KEYS[5], 'sidecar') end "
    "if not other or other == ARGV[3] then return {1, g, ''} end "
    "redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'kind', 'replace', 'client_id', ARGV[4], "
    "'generation', g, 'holder', ARGV[3]) "
    "return {1, g, other}";

int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string str_of(const redisReply *r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }

// The claim script's answer into r: {0} Foreign, {1, generation, other sidecar} Owned.
// False (r untouched: Unavailable) for anything else.
bool read_claim(const redisReply *reply, ClaimResult *r) {
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || reply->element[0]->type != REDIS_REPLY_INTEGER)
        return false;
    if (reply->element[0]->integer == 0) {
        r->outcome = ClaimOutcome::Foreign;
        return true;
    }
    if (reply->elements != 3) return false;
    std::string generation = str_of(reply->element[1]);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(generation.data(), generation.data() + generation.size(), value);
    if (ec != std::errc() || end != generation.data() + generation.size() || value == 0) return false;
    r->outcome = ClaimOutcome::Owned;
    r->generation = value;
    r->replaced_sidecar = str_of(reply->element[2]);
    return true;
}

int64_t to_int(const std::string &s) {
    char *end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    return end && *end == '\0' ? v : 0;
}

struct TenantTotals {
    std::set<std::string> users;
    int64_t sessions = 0, in = 0, out = 0, last_seen = 0;
};

}  // namespace

std::string render_activity(int64_t since_unix,
                            const std::vector<std::pair<std::string, std::map<std::string, std::string>>> &owners) {
    std::map<std::string, TenantTotals> tenants;
    std::string out = "{\"since\":" + std::to_string(since_unix) + ",\"users\":[";
    bool first = true;
    for (const auto &row : owners) {
        const std::string &owner = row.first;
        const std::map<std::string, std::string> &fields = row.second;
        auto get = [&](const char *k) {
            auto it = fields.find(k);
            return it == fields.end() ? std::string() : it->second;
        };
        std::string tenant = get("tenant");
        std::string user = get("user");
        if (user.empty()) user = owner;  // written before the user field existed
        int64_t sessions = to_int(get("sessions")), in = to_int(get("messages_in")), out_n = to_int(get("messages_out")),
                seen = to_int(get("last_seen"));
        if (!first) out += ',';
        first = false;
        out += "{\"user\":";
        common::append_json_string(out, user);
        out += ",\"tenant\":";
        if (tenant.empty()) out += "null";
        else common::append_json_string(out, tenant);
        out += ",\"sessions\":" + std::to_string(sessions) + ",\"messages_in\":" + std::to_string(in) +
               ",\"messages_out\":" + std::to_string(out_n) + ",\"last_seen\":" + std::to_string(seen / 1000) + "}";
        TenantTotals &t = tenants[tenant];
        t.users.insert(owner);
        t.sessions += sessions;
        t.in += in;
        t.out += out_n;
        t.last_seen = std::max(t.last_seen, seen);
    }
    out += "],\"tenants\":[";
    first = true;
    for (const auto &[tenant, t] : tenants) {
        if (!first) out += ',';
        first = false;
        out += "{\"tenant\":";
        if (tenant.empty()) out += "null";
        else common::append_json_string(out, tenant);
        out += ",\"users\":" + std::to_string(t.users.size()) + ",\"sessions\":" + std::to_string(t.sessions) +
               ",\"messages_in\":" + std::to_string(t.in) + ",\"messages_out\":" + std::to_string(t.out) +
               ",\"last_seen\":" + std::to_string(t.last_seen / 1000) + "}";
    }
    out += "]}";
    return out;
}

SecurityStore::SecurityStore(StoreConfig config, std::function<void(StoreResult)> deliver)
    : config_(std::move(config)), deliver_(std::move(deliver)),
      worker_(redis::WorkerOptions("security", config_.url), redis::BoundedInbox<Task>(config_.max_pending)) {}

SecurityStore::~SecurityStore() { stop(); }

void SecurityStore::start() { worker_.start([this] { run(); }); }

void SecurityStore::stop() { worker_.stop(); }

bool SecurityStore::enqueue(Task task) { return worker_.post(std::move(task)); }

bool SecurityStore::claim(uint64_t serial, std::string client_id, std::string owner) {
    return enqueue([this, serial, client_id = std::move(client_id), owner = std::move(owner)](redis::Connection *conn) {
        ClaimResult r{serial, client_id, ClaimOutcome::Unavailable, 0, ""};
        bool ok = true;
        if (conn) {
            const registry::Keys keys{config_.prefix, config_.sidecar_id};
            std::string error;
            auto reply = conn->command({"EVAL", kClaimScript, "5", common::RedisKeys(config_.prefix).client_owner(client_id),
                                        keys.client_holder(client_id), common::RedisKeys(config_.prefix).client_generation(),
                                        common::RedisKeys(config_.prefix).control(), keys.client(client_id), owner,
                                        std::to_string(config_.owner_ttl_seconds), config_.sidecar_id, client_id,
                                        legacy_client_owner(owner)},
                                       &error);
            if (!reply) ok = false;
            else if (redis::is_error_reply(reply.get(), &error))
                ops::error("client id claim failed", {{"client_id", client_id}, {"error", error}});
            else if (!read_claim(reply.get(), &r))
                ops::error("client id claim failed", {{"client_id", client_id}, {"error", "unexpected reply"}});
        }
        deliver_(std::move(r));
        return ok;
    });
}

bool SecurityStore::ban(std::string address, int64_t until_ms, std::string reason) {
    return enqueue([this, address = std::move(address), until_ms, reason = std::move(reason)](redis::Connection *conn) {
        if (!conn) {
            ops::warn("ban not shared: Redis unreachable", {{"address", address}});
            return true;
        }
        int64_t ttl_ms = std::max<int64_t>(1, until_ms - unix_ms());
        std::string error;
        auto replies = conn->pipeline({{"SET", common::RedisKeys(config_.prefix).ban(address), reason, "PX", std::to_string(ttl_ms)},
                                       {"ZADD", common::RedisKeys(config_.prefix).bans(), std::to_string(until_ms), address}},
                                      &error);
        return !replies.empty();
    });
}

bool SecurityStore::unban(std::string address) {
    return enqueue([this, address = std::move(address)](redis::Connection *conn) {
        if (!conn) return true;
        std::string error;
        auto replies = conn->pipeline(
            {{"DEL", common::RedisKeys(config_.prefix).ban(address)}, {"ZREM", common::RedisKeys(config_.prefix).bans(), address}}, &error);
        return !replies.empty();
    });
}

bool SecurityStore::publish_control(std::vector<std::pair<std::string, std::string>> fields) {
    return enqueue([this, fields = std::move(fields)](redis::Connection *conn) {
        if (!conn) {
            ops::warn("control entry not published: Redis unreachable");
            return true;
        }
        std::vector<std::string> cmd{"XADD", common::RedisKeys(config_.prefix).control(), "MAXLEN", "~", "10000", "*"};
        for (const auto &[k, v] : fields) {
            cmd.push_back(k);
            cmd.push_back(v);
        }
        std::string error;
        return conn->command(cmd, &error) != nullptr;
    });
}

bool SecurityStore::add_activity(std::vector<ActivityDelta> deltas) {
    return enqueue([this, deltas = std::move(deltas)](redis::Connection *conn) {
        if (!conn) return true;  // activity is best effort: counts of an outage are lost
        std::vector<std::vector<std::string>> cmds;
        const std::string index = common::RedisKeys(config_.prefix).activity();
        for (const ActivityDelta &d : deltas) {
            std::string key = common::RedisKeys(config_.prefix).activity(d.owner);
            if (d.sessions) cmds.push_back({"HINCRBY", key, "sessions", std::to_string(d.sessions)});
            if (d.messages_in) cmds.push_back({"HINCRBY", key, "messages_in", std::to_string(d.messages_in)});
            if (d.messages_out) cmds.push_back({"HINCRBY", key, "messages_out", std::to_string(d.messages_out)});
            std::vector<std::string> hset{"HSET", key, "last_seen", std::to_string(d.last_seen_ms), "user", d.user};
            if (!d.tenant.empty()) {
                hset.push_back("tenant");
                hset.push_back(d.tenant);
            }
            cmds.push_back(std::move(hset));
            cmds.push_back({"EXPIRE", key, std::to_string(config_.activity_ttl_seconds)});
            cmds.push_back({"ZADD", index, std::to_string(d.last_seen_ms), d.owner});
        }
        cmds.push_back({"ZREMRANGEBYSCORE", index, "-inf",
                        "(" + std::to_string(unix_ms() - int64_t(config_.activity_ttl_seconds) * 1000)});
        std::string error;
        return !conn->pipeline(cmds, &error).empty();
    });
}

bool SecurityStore::activity_report(uint64_t ticket, int64_t since_unix) {
    return enqueue([this, ticket, since_unix](redis::Connection *conn) {
        AdminAnswer a{ticket, 503, R"({"error":"unavailable","message":"Redis is unreachable"})"};
        if (!conn) {
            deliver_(std::move(a));
            return true;
        }
        std::string error;
        auto owners = conn->command({"ZRANGEBYSCORE", common::RedisKeys(config_.prefix).activity(), std::to_string(since_unix * 1000),
                                     "+inf", "LIMIT", "0", std::to_string(kMaxReportOwners)},
                                    &error);
        if (!owners || owners->type != REDIS_REPLY_ARRAY) {
            deliver_(std::move(a));
            return owners != nullptr;
        }
        std::vector<std::vector<std::string>> cmds;
        std::vector<std::pair<std::string, std::map<std::string, std::string>>> rows;
        for (size_t i = 0; i < owners->elements; ++i) {
            rows.emplace_back(str_of(owners->element[i]), std::map<std::string, std::string>{});
            cmds.push_back({"HGETALL", common::RedisKeys(config_.prefix).activity(rows.back().first)});
        }
        auto replies = conn->pipeline(cmds, &error);
        if (!cmds.empty() && replies.empty()) {
            deliver_(std::move(a));
            return false;
        }
        for (size_t i = 0; i < replies.size(); ++i) {
            const redisReply *h = replies[i].get();
            if (h->type != REDIS_REPLY_ARRAY) continue;
            for (size_t j = 0; j + 1 < h->elements; j += 2)
                rows[i].second[str_of(h->element[j])] = str_of(h->element[j + 1]);
        }
        a.status = 200;
        a.body = render_activity(since_unix, rows);
        deliver_(std::move(a));
        return true;
    });
}

void SecurityStore::run() {
    auto next_refresh = Clock::now();
    for (;;) {
        auto work = worker_.wait_for_work(next_refresh);
        if (work.stopping) return;
        for (Task &task : work.items)
            if (!task(worker_.connection())) worker_.lost("connection lost");
        if (Clock::now() >= next_refresh) {
            next_refresh = Clock::now() + config_.ban_refresh;
            redis::Connection *conn = worker_.connection();
            if (!conn) continue;
            std::string now = std::to_string(unix_ms()), error;
            auto replies = conn->pipeline({{"ZREMRANGEBYSCORE", common::RedisKeys(config_.prefix).bans(), "-inf", now},
                                           {"ZRANGEBYSCORE", common::RedisKeys(config_.prefix).bans(), "(" + now, "+inf", "WITHSCORES"}},
                                          &error);
            if (replies.empty()) {
                worker_.lost("connection lost");
                continue;
            }
            const redisReply *list = replies[1].get();
            if (list->type != REDIS_REPLY_ARRAY) continue;
            BanList bans;
            for (size_t i = 0; i + 1 < list->elements; i += 2)
                bans.until_ms[str_of(list->element[i])] = to_int(str_of(list->element[i + 1]));
            deliver_(std::move(bans));
        }
    }
}

}  // namespace livesync::sidecar::auth
