// livesync-dump: reads a livesync change stream from Redis (XRANGE, in pages) and prints
// one JSON line per change, decoded with the one batch decoder (common/change_batch).
// Used by the failure tests to count every row end to end, and by people debugging.
//
//   livesync-dump [--redis redis://host:port[/db]] [--stream {livesync}:changes] [--from ID]
//
// Line: {"id":"<entry id>","lsn":<u64>,"xid":<u32>,"part":<u32>,"final":<bool>,"change":{...}}
// A transaction part without changes (possible as the last part of a split transaction)
// prints {"id":..,"lsn":..,"xid":..,"part":..,"final":..,"change":null}.
#include "common/change_batch.hpp"
#include "common/redis_keys.hpp"
#include "common/redis_url.hpp"

#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

namespace common = livesync::common;

int usage() {
    std::fprintf(stderr, "usage: livesync-dump [--redis URL] [--stream KEY] [--from ID]\n");
    return 2;
}

void print_txn(const std::string &id, const common::Transaction &t) {
    std::string head = "{\"id\":\"" + id + "\",\"lsn\":" + std::to_string(t.lsn) +
                       ",\"xid\":" + std::to_string(t.xid) + ",\"part\":" + std::to_string(t.part) +
                       ",\"final\":" + (t.final ? "true" : "false") + ",\"change\":";
    if (t.changes.empty()) {
        std::printf("%snull}\n", head.c_str());
        return;
    }
    std::string line;
    for (const common::Change &c : t.changes) {
        line = head;
        common::append_change_json(line, c);
        line += "}\n";
        std::fwrite(line.data(), 1, line.size(), stdout);
    }
}

}  // namespace

int main(int argc, char **argv) {
    std::string url_text = "redis://127.0.0.1:6379", stream = common::RedisKeys().changes(), from = "-";
    for (int i = 1; i < argc; ++i) {
        if (i + 1 >= argc) return usage();
        if (!std::strcmp(argv[i], "--redis")) url_text = argv[++i];
        else if (!std::strcmp(argv[i], "--stream")) stream = argv[++i];
        else if (!std::strcmp(argv[i], "--from")) from = argv[++i];
        else return usage();
    }
    std::string error;
    auto url = common::parse_redis_url(url_text, &error);
    if (!url) {
        std::fprintf(stderr, "livesync-dump: bad --redis: %s\n", error.c_str());
        return 2;
    }
    redisContext *c = redisConnect(url->host.c_str(), url->port);
    if (c == nullptr || c->err) {
        std::fprintf(stderr, "livesync-dump: cannot connect to %s: %s\n", url->redacted().c_str(),
                     c ? c->errstr : "out of memory");
        return 1;
    }
    auto check = [&](redisReply *r, const char *what) {
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
            std::fprintf(stderr, "livesync-dump: %s failed: %s\n", what, r ? r->str : c->errstr);
            std::exit(1);
        }
    };
    if (!url->password.empty()) {
        redisReply *r = url->user.empty()
                            ? static_cast<redisReply *>(redisCommand(c, "AUTH %s", url->password.c_str()))
                            : static_cast<redisReply *>(
                                  redisCommand(c, "AUTH %s %s", url->user.c_str(), url->password.c_str()));
        check(r, "AUTH");
        freeReplyObject(r);
    }
    if (url->db != 0) {
        auto *r = static_cast<redisReply *>(redisCommand(c, "SELECT %d", url->db));
        check(r, "SELECT");
        freeReplyObject(r);
    }
    int status = 0;
    std::string start = from;
    for (;;) {
        auto *r = static_cast<redisReply *>(
            redisCommand(c, "XRANGE %b %b + COUNT 100", stream.data(), stream.size(), start.data(), start.size()));
        check(r, "XRANGE");
        size_t n = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        for (size_t i = 0; i < n; ++i) {
            redisReply *entry = r->element[i];
            std::string id(entry->element[0]->str, entry->element[0]->len);
            start = "(" + id;
            redisReply *fields = entry->element[1];
            bool found = false;
            for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                if (std::strcmp(fields->element[f]->str, "batch") != 0) continue;
                found = true;
                auto batch = common::decode_batch(
                    std::string_view(fields->element[f + 1]->str, fields->element[f + 1]->len), &error);
                if (!batch) {
                    std::fprintf(stderr, "livesync-dump: entry %s: %s\n", id.c_str(), error.c_str());
                    status = 1;
                    continue;
                }
                for (const common::Transaction &t : batch->transactions) print_txn(id, t);
            }
            if (!found) {
                std::fprintf(stderr, "livesync-dump: entry %s has no batch field\n", id.c_str());
                status = 1;
            }
        }
        freeReplyObject(r);
        if (n < 100) break;
    }
    redisFree(c);
    return status;
}
