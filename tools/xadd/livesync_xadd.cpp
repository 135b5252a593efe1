// livesync-xadd: appends one change batch to "<prefix>changes" the way the replicator
// does (entry ID <commit lsn>-<seq>, field "batch"), for manual and integration checks
// of livesyncd without Postgres. Changes are given as JSON and packed with BatchWriter.
//
//   livesync-xadd --redis redis://127.0.0.1:6379 [--prefix {livesync}:] --lsn 0/16B3748
//                 [--xid 731] [--seq 0] [--part 0] [--not-final]
//                 --change '{"op":"i","schema":"public","table":"items","new":{"id":1}}' ...
//   livesync-xadd ... --garbage          (appends bytes that are not a batch)
#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/batch_writer.hpp"
#include "common/lsn.hpp"
#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"

namespace {

int write_to_string(void *data, const char *buf, size_t len) {
    static_cast<std::string *>(data)->append(buf, len);
    return 0;
}

void pack_string(msgpack_packer &pk, const char *s, size_t n) {
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, s, n);
}

void pack_value(msgpack_packer &pk, const rapidjson::Value &v) {
    if (v.IsNull()) msgpack_pack_nil(&pk);
    else if (v.IsBool()) v.GetBool() ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    else if (v.IsInt64()) msgpack_pack_int64(&pk, v.GetInt64());
    else if (v.IsUint64()) msgpack_pack_uint64(&pk, v.GetUint64());
    else if (v.IsNumber()) msgpack_pack_double(&pk, v.GetDouble());
    else if (v.IsString()) pack_string(pk, v.GetString(), v.GetStringLength());
    else msgpack_pack_nil(&pk);  // nested JSON is not a column value here
}

bool pack_change(const std::string &json, std::string &out) {
    rapidjson::Document doc;
    doc.Parse(json.c_str());
    if (doc.HasParseError() || !doc.IsObject()) return false;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, write_to_string);
    msgpack_pack_map(&pk, doc.MemberCount());
    for (const auto &m : doc.GetObject()) {
        pack_string(pk, m.name.GetString(), m.name.GetStringLength());
        if (m.value.IsObject()) {
            msgpack_pack_map(&pk, m.value.MemberCount());
            for (const auto &col : m.value.GetObject()) {
                pack_string(pk, col.name.GetString(), col.name.GetStringLength());
                pack_value(pk, col.value);
            }
        } else {
            pack_value(pk, m.value);
        }
    }
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    using namespace livesync::common;
    std::string redis = "redis://127.0.0.1:6379", prefix(kDefaultKeyPrefix), lsn_text;
    uint32_t xid = 1, part = 0;
    uint64_t seq = 0;
    bool final = true, garbage = false;
    std::vector<std::string> changes;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "livesync-xadd: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--redis") redis = next();
        else if (a == "--prefix") prefix = next();
        else if (a == "--lsn") lsn_text = next();
        else if (a == "--xid") xid = static_cast<uint32_t>(std::stoul(next()));
        else if (a == "--seq") seq = std::stoull(next());
        else if (a == "--part") part = static_cast<uint32_t>(std::stoul(next()));
        else if (a == "--not-final") final = false;
        else if (a == "--garbage") garbage = true;
        else if (a == "--change") changes.push_back(next());
        else {
            std::fprintf(stderr, "livesync-xadd: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    auto lsn = parse_lsn(lsn_text);
    std::string error;
    auto url = parse_redis_url(redis, &error);
    if (!lsn || !url) {
        std::fprintf(stderr, "livesync-xadd: need --lsn X/Y and a valid --redis URL %s\n", error.c_str());
        return 2;
    }
    BatchWriter writer;
    auto now_usec = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    writer.begin_txn(*lsn, xid, now_usec, part);
    for (const std::string &c : changes) {
        std::string packed;
        if (!pack_change(c, packed)) {
            std::fprintf(stderr, "livesync-xadd: --change is not a JSON object: %s\n", c.c_str());
            return 2;
        }
        writer.add_change(packed);
    }
    writer.end_txn(final);
    std::string batch(garbage ? std::string_view("\xc1garbage") : writer.bytes());

    redisContext *ctx = redisConnect(url->host.c_str(), url->port);
    if (ctx == nullptr || ctx->err) {
        std::fprintf(stderr, "livesync-xadd: cannot connect to Redis\n");
        return 1;
    }
    if (!url->password.empty()) {
        redisReply *r = url->user.empty()
                            ? static_cast<redisReply *>(redisCommand(ctx, "AUTH %s", url->password.c_str()))
                            : static_cast<redisReply *>(
                                  redisCommand(ctx, "AUTH %s %s", url->user.c_str(), url->password.c_str()));
        if (r) freeReplyObject(r);
    }
    if (url->db) {
        redisReply *r = static_cast<redisReply *>(redisCommand(ctx, "SELECT %d", url->db));
        if (r) freeReplyObject(r);
    }
    std::string key = RedisKeys(prefix).changes();
    std::string id = format_stream_id(StreamId{*lsn, seq});
    auto *r = static_cast<redisReply *>(
        redisCommand(ctx, "XADD %b %b batch %b", key.data(), key.size(), id.data(), id.size(), batch.data(),
                     batch.size()));
    int rc = 0;
    if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
        std::fprintf(stderr, "livesync-xadd: XADD failed: %s\n", r ? r->str : ctx->errstr);
        rc = 1;
    } else {
        std::printf("%s\n", r->str);
    }
    if (r) freeReplyObject(r);
    redisFree(ctx);
    return rc;
}
