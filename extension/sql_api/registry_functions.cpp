// livesync.clients(), livesync.kick() and livesync.activity_report(): the client
// registry and the sidecars' activity counters in Redis, seen and acted on from SQL.
// They talk to Redis with the replicator's RedisLink (non-blocking, every wait on the
// latch, so a cancel interrupts them) and livesync.redis_url.
//
// Redis work happens in C++ under guard_cpp; its results are copied into palloc'd
// arrays inside pg_call, and every Postgres call made while a RedisLink is open goes
// through pg_call too, so no longjmp crosses a C++ frame that owns anything. A cancel
// arrives inside a Redis wait (worker::wait_for_socket): it is thrown as PgError, the
// RedisLink's destructor closes the connection, and guard_cpp raises the cancel again
// (test/integration/test_pg_boundary.py counts the connections).
#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"
#include "extension/livesync.hpp"
#include "extension/pg_guard.hpp"
#include "extension/worker/redis_link.hpp"
#include "extension/worker/worker_wait.hpp"

extern "C" {
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(livesync_clients);
PG_FUNCTION_INFO_V1(livesync_kick);
PG_FUNCTION_INFO_V1(livesync_activity_report);
}

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace livesync::extension::sql_api {

namespace {

using worker::Command;
using worker::RedisLink;
using worker::Reply;

// The registry hash fields, in the column order of livesync.clients().
constexpr const char *kFields[] = {"sidecar", "user", "tenant", "role", "address",
                                   "connected_at", "last_activity", "subscriptions"};
constexpr int kFieldCount = sizeof kFields / sizeof kFields[0];

void connect(RedisLink &redis) {
    redis.connect(worker::configured_redis_url(), settings.redis_timeout_ms);
}

std::string reply_error(const Reply &r) { return std::string(r->str, r->len); }

struct ClientRows {
    int count = 0;
    char **ids = nullptr;
    char ***fields = nullptr;  // [row][field], nullptr for a missing field
    Datum *subscriptions = nullptr;  // clients(): the subscriptions field as jsonb (0: none)
};

// Reads every <prefix>client:* hash (SCAN, then HMGET in pipelines).
ClientRows read_clients() {
    RedisLink redis;
    connect(redis);
    std::string prefix = common::RedisKeys(settings.redis_prefix).client_prefix();
    std::vector<std::string> keys;
    std::string cursor = "0";
    do {
        std::string pattern = prefix + "*";
        Reply r = redis.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) throw std::runtime_error("SCAN failed");
        cursor.assign(r->element[0]->str, r->element[0]->len);
        for (size_t i = 0; i < r->element[1]->elements; ++i)
            keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    } while (cursor != "0");

    std::vector<Command> commands;
    for (const std::string &key : keys) {
        Command c = {"HMGET", key};
        for (const char *f : kFields) c.push_back(f);
        commands.push_back(std::move(c));
    }
    std::vector<Reply> replies;
    if (!commands.empty()) replies = redis.pipeline(commands);

    ClientRows rows;
    // Only reads the C++ objects above: a Postgres error in here owns nothing.
    pg_call([&] {
        rows.ids = static_cast<char **>(palloc0(sizeof(char *) * (keys.size() + 1)));
        rows.fields = static_cast<char ***>(palloc0(sizeof(char **) * (keys.size() + 1)));
        rows.subscriptions = static_cast<Datum *>(palloc0(sizeof(Datum) * (keys.size() + 1)));
        for (size_t i = 0; i < keys.size(); ++i) {
            const redisReply *r = replies[i].get();
            if (r->type != REDIS_REPLY_ARRAY || r->elements != kFieldCount) continue;
            if (r->element[0]->type != REDIS_REPLY_STRING) continue;  // the entry went away meanwhile
            rows.ids[rows.count] = pstrdup(keys[i].c_str() + prefix.size());
            rows.fields[rows.count] = static_cast<char **>(palloc0(sizeof(char *) * kFieldCount));
            for (int f = 0; f < kFieldCount; ++f)
                if (r->element[f]->type == REDIS_REPLY_STRING)
                    rows.fields[rows.count][f] = pnstrdup(r->element[f]->str, r->element[f]->len);
            // A malformed value raises here, inside pg_call (its detail names the token).
            if (const char *subs = rows.fields[rows.count][kFieldCount - 1])
                rows.subscriptions[rows.count] = DirectFunctionCall1(jsonb_in, CStringGetDatum(subs));
            ++rows.count;
        }
    });
    return rows;
}

// The activity hashes the sidecars flush every second (sidecar/auth/security_store.cpp):
// index <prefix>activity (sorted set: owner by last seen, ms) and <prefix>activity:<owner>.
constexpr const char *kActivityFields[] = {"tenant", "sessions", "messages_in", "messages_out", "last_seen"};
constexpr int kActivityFieldCount = 5;
constexpr long kMaxActivityRows = 100000;

ClientRows read_activity(int64_t since_unix_ms) {
    RedisLink redis;
    connect(redis);
    const common::RedisKeys redis_keys(settings.redis_prefix);
    std::string prefix = redis_keys.activity();
    std::string since = std::to_string(since_unix_ms);
    std::string limit = std::to_string(kMaxActivityRows);
    Reply owners = redis.command({"ZRANGEBYSCORE", prefix, since, "+inf", "LIMIT", "0", limit});
    if (owners->type != REDIS_REPLY_ARRAY) throw std::runtime_error("ZRANGEBYSCORE " + prefix + " failed");
    std::vector<std::string> names, keys;
    for (size_t i = 0; i < owners->elements; ++i) {
        names.emplace_back(owners->element[i]->str, owners->element[i]->len);
        keys.push_back(redis_keys.activity(names.back()));
    }
    std::vector<Command> commands;
    for (const std::string &key : keys) {
        Command c = {"HMGET", key};
        for (const char *f : kActivityFields) c.push_back(f);
        commands.push_back(std::move(c));
    }
    std::vector<Reply> replies;
    if (!commands.empty()) replies = redis.pipeline(commands);
    ClientRows rows;
    pg_call([&] {
        rows.ids = static_cast<char **>(palloc0(sizeof(char *) * (names.size() + 1)));
        rows.fields = static_cast<char ***>(palloc0(sizeof(char **) * (names.size() + 1)));
        for (size_t i = 0; i < names.size(); ++i) {
            const redisReply *r = replies[i].get();
            if (r->type != REDIS_REPLY_ARRAY || r->elements != kActivityFieldCount) continue;
            rows.ids[rows.count] = pstrdup(names[i].c_str());
            rows.fields[rows.count] = static_cast<char **>(palloc0(sizeof(char *) * kActivityFieldCount));
            for (int f = 0; f < kActivityFieldCount; ++f)
                if (r->element[f]->type == REDIS_REPLY_STRING)
                    rows.fields[rows.count][f] = pnstrdup(r->element[f]->str, r->element[f]->len);
            ++rows.count;
        }
    });
    return rows;
}

int64 counter(const char *text) { return text ? strtoll(text, nullptr, 10) : 0; }

Datum unix_ms_to_timestamptz(const char *text, bool *isnull) {
    char *end = nullptr;
    long long ms = text ? strtoll(text, &end, 10) : 0;
    *isnull = text == nullptr || end == text || *end != '\0';
    if (*isnull) return (Datum)0;
    return TimestampTzGetDatum(time_t_to_timestamptz(ms / 1000) + (ms % 1000) * 1000);
}

}  // namespace
}  // namespace livesync::extension::sql_api

extern "C" Datum livesync_clients(PG_FUNCTION_ARGS) {
    using namespace livesync::extension;
    using namespace livesync::extension::sql_api;
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    ClientRows rows = guard_cpp("clients", [] { return read_clients(); });
    for (int i = 0; i < rows.count; ++i) {
        Datum values[9];
        bool nulls[9] = {false};
        values[0] = CStringGetTextDatum(rows.ids[i]);
        char **f = rows.fields[i];
        for (int c = 0; c < 5; ++c) {  // sidecar, user, tenant, role, address
            nulls[c + 1] = f[c] == nullptr;
            if (f[c]) values[c + 1] = CStringGetTextDatum(f[c]);
        }
        values[6] = unix_ms_to_timestamptz(f[5], &nulls[6]);
        values[7] = unix_ms_to_timestamptz(f[6], &nulls[7]);
        nulls[8] = f[7] == nullptr;
        if (f[7]) values[8] = rows.subscriptions[i];
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

extern "C" Datum livesync_kick(PG_FUNCTION_ARGS) {
    using namespace livesync::extension;
    using namespace livesync::extension::sql_api;
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("livesync.kick: client_id must not be NULL")));
    char *client_id = text_to_cstring(PG_GETARG_TEXT_PP(0));
    if (client_id[0] == '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("livesync.kick: client_id must not be empty")));
    bool registered = guard_cpp("kick", [client_id] {
        RedisLink redis;
        connect(redis);
        const livesync::common::RedisKeys keys(settings.redis_prefix);
        std::string client_key = keys.client(client_id);
        std::string control = keys.control();
        // Every sidecar reads the control stream; the one holding the client closes it.
        std::vector<Reply> replies = redis.pipeline(
            {{"EXISTS", client_key},
             {"XADD", control, "MAXLEN", "~", "10000", "*", "kind", "kick", "client_id", client_id}});
        if (replies[1]->type == REDIS_REPLY_ERROR) throw std::runtime_error("XADD failed: " + reply_error(replies[1]));
        return replies[0]->type == REDIS_REPLY_INTEGER && replies[0]->integer == 1;
    });
    PG_RETURN_BOOL(registered);
}

extern "C" Datum livesync_activity_report(PG_FUNCTION_ARGS) {
    using namespace livesync::extension;
    using namespace livesync::extension::sql_api;
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("livesync.activity_report: since must not be NULL")));
    TimestampTz since = PG_GETARG_TIMESTAMPTZ(0);
    if (TIMESTAMP_NOT_FINITE(since))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("livesync.activity_report: since must be a finite time")));
    int64 since_ms = (since - SetEpochTimestamp()) / 1000;
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    ClientRows rows = guard_cpp("activity_report", [since_ms] { return read_activity(since_ms); });
    for (int i = 0; i < rows.count; ++i) {
        Datum values[6];
        bool nulls[6] = {false};
        char **f = rows.fields[i];
        values[0] = CStringGetTextDatum(rows.ids[i]);
        nulls[1] = f[0] == nullptr;
        if (f[0]) values[1] = CStringGetTextDatum(f[0]);
        values[2] = Int64GetDatum(counter(f[1]));
        values[3] = Int64GetDatum(counter(f[2]));
        values[4] = Int64GetDatum(counter(f[3]));
        values[5] = unix_ms_to_timestamptz(f[4], &nulls[5]);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
