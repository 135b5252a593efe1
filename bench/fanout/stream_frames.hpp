// bench/fanout: what the two comparison servers (bare_broadcaster.cpp, nchan_relay.cpp)
// share: they read the same Redis stream livesyncd reads (common/redis_keys.hpp's
// changes() key, one msgpack change batch in each entry's "batch" field, the format of
// common/change_batch.hpp) and turn each transaction into the JSON `changes` frame
// livesyncd sends a client with one subscription "s1" to the table (docs/protocol.md),
// built ONCE per transaction whatever the number of receivers. Never a test; no
// resume, no rules, no filters, no trimming checks: an upper bound, not a server.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "common/change_batch.hpp"
#include "common/lsn.hpp"

namespace livesync::bench {

// The JSON `changes` frame of one transaction for subscription "s1" on schema.table,
// livesyncd's shape (sidecar/stream/fanout.cpp): "" when it has no change on the table.
inline std::string changes_frame_json(const common::Transaction &txn, std::string_view schema, std::string_view table) {
    std::string out = "{\"type\":\"changes\",\"lsn\":\"";
    out += common::format_lsn(txn.lsn);
    out += "\",\"xid\":";
    out += std::to_string(txn.xid);
    out += ",\"commit_time\":";
    common::append_timestamp_json(out, txn.commit_sec, txn.commit_nsec);
    if (txn.part != 0 || !txn.final) {
        out += ",\"part\":";
        out += std::to_string(txn.part);
        out += txn.final ? ",\"final\":true" : ",\"final\":false";
    }
    out += ",\"changes\":[";
    size_t entries = 0;
    std::string body;
    for (const common::Change &c : txn.changes) {
        if (c.schema != schema || c.table != table) continue;
        if (entries++) out += ',';
        out += "{\"sub\":[\"s1\"],";
        body.clear();
        common::append_change_json(body, c);
        out.append(body, 1, std::string::npos);  // without its '{'
    }
    if (entries == 0) return {};
    out += "]}";
    return out;
}

// XREAD BLOCK over the changes stream from its tail at open(): each new entry becomes
// one frame per transaction, handed to on_frame.
class StreamFrames {
public:
    StreamFrames(std::string host, int port, std::string key, std::string table)
        : host_(std::move(host)), port_(port), key_(std::move(key)) {
        size_t dot = table.find('.');
        schema_ = dot == std::string::npos ? "public" : table.substr(0, dot);
        table_ = dot == std::string::npos ? table : table.substr(dot + 1);
    }
    ~StreamFrames() {
        if (ctx_) redisFree(ctx_);
    }

    bool open(std::string *error) {
        ctx_ = redisConnect(host_.c_str(), port_);
        if (!ctx_ || ctx_->err) {
            *error = ctx_ ? ctx_->errstr : "redisConnect failed";
            return false;
        }
        auto *r = static_cast<redisReply *>(redisCommand(ctx_, "XREVRANGE %b + - COUNT 1", key_.data(), key_.size()));
        if (!r) {
            *error = ctx_->errstr;
            return false;
        }
        last_id_ = "0-0";
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements == 2)
            last_id_.assign(r->element[0]->element[0]->str, r->element[0]->element[0]->len);
        freeReplyObject(r);
        return true;
    }

    // One XREAD (BLOCK block_ms). False on a Redis error (*error says which).
    bool read(int block_ms, const std::function<void(std::string &&)> &on_frame, std::string *error) {
        auto *r = static_cast<redisReply *>(redisCommand(ctx_, "XREAD COUNT 256 BLOCK %d STREAMS %b %b", block_ms,
                                                         key_.data(), key_.size(), last_id_.data(), last_id_.size()));
        if (!r) {
            *error = ctx_->errstr;
            return false;
        }
        bool ok = true;
        if (r->type == REDIS_REPLY_ERROR) {
            *error = std::string(r->str, r->len);
            ok = false;
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->elements == 2) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements; ++i) {
                const redisReply *e = entries->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
                last_id_.assign(e->element[0]->str, e->element[0]->len);
                const redisReply *fields = e->element[1];
                for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                    if (std::string_view(fields->element[f]->str, fields->element[f]->len) != "batch") continue;
                    std::string decode_error;
                    auto batch = common::decode_batch(
                        std::string_view(fields->element[f + 1]->str, fields->element[f + 1]->len), &decode_error);
                    if (!batch) {
                        std::fprintf(stderr, "bad stream entry %s skipped: %s\n", last_id_.c_str(), decode_error.c_str());
                        continue;
                    }
                    for (const common::Transaction &txn : batch->transactions) {
                        std::string frame = changes_frame_json(txn, schema_, table_);
                        if (!frame.empty()) on_frame(std::move(frame));
                    }
                }
            }
        }
        freeReplyObject(r);
        return ok;
    }

private:
    std::string host_;
    int port_;
    std::string key_, schema_, table_;
    std::string last_id_;
    redisContext *ctx_ = nullptr;
};

}  // namespace livesync::bench
