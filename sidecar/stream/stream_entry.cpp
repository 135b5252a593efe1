#include "sidecar/stream/stream_entry.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace livesync::stream {

namespace {
bool is_string(const redisReply *r) {
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::optional<uint64_t> parse_u64(const redisReply *r) {
    if (!r || r->type != REDIS_REPLY_STRING) return std::nullopt;
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(r->str, r->str + r->len, v);
    if (ec != std::errc() || end != r->str + r->len) return std::nullopt;
    return v;
}

}  // namespace

std::optional<common::StreamId> stream_entry_id(const redisReply *entry) {
    if (!entry || entry->type != REDIS_REPLY_ARRAY || entry->elements < 1 || !is_string(entry->element[0]))
        return std::nullopt;
    return common::parse_stream_id(std::string_view(entry->element[0]->str, entry->element[0]->len));
}

std::optional<common::StreamId> single_entry_id(const redisReply *reply) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return std::nullopt;
    return stream_entry_id(reply->element[0]);
}

StreamView read_stream_view(const redisReply *trimmed_lsn, const redisReply *at_or_below, const redisReply *tail) {
    StreamView view;
    view.trimmed_lsn = parse_u64(trimmed_lsn);
    view.held_at_or_below = single_entry_id(at_or_below);
    view.tail = single_entry_id(tail);
    return view;
}

EntryResult read_stream_entry(const redisReply *entry, StreamBatch &out, std::string *id_text, std::string *error,
                              bool decode) {
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || !is_string(entry->element[0])) {
        *error = "unexpected stream entry shape";
        return EntryResult::BadShape;
    }
    id_text->assign(entry->element[0]->str, entry->element[0]->len);
    auto id = common::parse_stream_id(*id_text);
    if (!id) {
        *error = "unparsable stream entry ID " + *id_text;
        return EntryResult::BadShape;
    }
    out.id = *id;
    const redisReply *fields = entry->element[1];
    const redisReply *batch_bytes = nullptr;
    if (fields->type == REDIS_REPLY_ARRAY) {
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
            if (is_string(fields->element[f]) && std::string_view(fields->element[f]->str, fields->element[f]->len) == "batch" &&
                is_string(fields->element[f + 1]))
                batch_bytes = fields->element[f + 1];
    }
    if (batch_bytes == nullptr) {
        *error = "entry has no \"batch\" field";
        return EntryResult::BadBatch;
    }
    out.bytes = batch_bytes->len;
    if (!decode) {
        out.raw.assign(batch_bytes->str, batch_bytes->len);
        return EntryResult::Ok;
    }
    auto batch = common::decode_batch(std::string_view(batch_bytes->str, batch_bytes->len), error);
    if (!batch) return EntryResult::BadBatch;
    out.batch = std::move(*batch);
    return EntryResult::Ok;
}

bool decode_raw(StreamBatch &entry, std::string *error) {
    std::string raw;
    raw.swap(entry.raw);
    auto batch = common::decode_batch(raw, error);
    if (!batch) return false;
    entry.batch = std::move(*batch);
    return true;
}

size_t stream_entry_bytes(const redisReply *entry) {
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) return 0;
    const redisReply *fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) return 0;
    size_t n = 0;
    for (size_t f = 0; f < fields->elements; ++f)
        if (is_string(fields->element[f])) n += fields->element[f]->len;
    return n;
}

size_t ReadSizer::count() const {
    size_t n = budget_ / (largest_ ? largest_ : 1);
    return n < 1 ? 1 : (n > max_count_ ? max_count_ : n);
}

void ReadSizer::observe(const redisReply *entries) {
    if (entries == nullptr || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0) return;
    size_t largest = 1;
    for (size_t i = 0; i < entries->elements; ++i) largest = std::max(largest, stream_entry_bytes(entries->element[i]));
    largest_ = largest;
}

}  // namespace livesync::stream
