// One entry of the change stream as hiredis returns it ([id, [field, value, ...]]),
// read into a decoded batch; and the replies that prove continuity, read into a
// StreamView. Shared by the live reader and the replay reader so both read them the
// same way.
#pragma once

#include <hiredis/hiredis.h>

#include <optional>
#include <string>

#include "sidecar/stream/continuity.hpp"
#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

enum class EntryResult {
    Ok,         // out holds the entry
    BadBatch,   // the ID is valid (out.id set) but the batch is not: skip it, count it, log it
    BadShape,   // not a stream entry: the reply is unusable
};

// *id_text gets the entry's ID as Redis printed it (for logs); *error says what was wrong.
// With decode = false the batch is not decoded: out.raw gets its bytes (decode_raw()
// decodes it later; a decoded batch takes several times its encoded size, so a replay
// page travels between threads encoded).
EntryResult read_stream_entry(const redisReply *entry, StreamBatch &out, std::string *id_text, std::string *error,
                              bool decode = true);
// Decodes out.raw into out.batch (and frees raw); false and *error when it is not a batch.
bool decode_raw(StreamBatch &entry, std::string *error);

// The ID of one entry ([id, [field, value, ...]]), without decoding its batch.
std::optional<common::StreamId> stream_entry_id(const redisReply *entry);

// The ID of the only entry of an XRANGE/XREVRANGE ... COUNT 1 reply; nullopt when empty.
std::optional<common::StreamId> single_entry_id(const redisReply *reply);

// From the replies of GET <prefix>trimmed_lsn, XREVRANGE <stream> <position> - COUNT 1
// and XREVRANGE <stream> + - COUNT 1, read in one MULTI/EXEC. A marker that is not a
// number counts as absent (no proof from it).
StreamView read_stream_view(const redisReply *trimmed_lsn, const redisReply *at_or_below, const redisReply *tail);

// How many entries one XRANGE/XREAD asks for, so that a reply stays near a byte budget:
// the budget over the largest entry of the previous reply, between 1 and max_count.
// Entries of a huge transaction are livesync.batch_max_bytes each (1 MiB by default),
// so a reader that asked for 64 small entries asks for a few big ones next.
class ReadSizer {
public:
    ReadSizer(size_t budget_bytes, size_t max_count, size_t first_guess_bytes = 1u << 20)
        : budget_(budget_bytes), max_count_(max_count == 0 ? 1 : max_count), largest_(first_guess_bytes) {}
    size_t count() const;
    size_t budget() const { return budget_; }
    // The entries array of an XRANGE reply, or of one XREAD stream.
    void observe(const redisReply *entries);

private:
    size_t budget_;
    size_t max_count_;
    size_t largest_;
};

// The size of an entry's "batch" field (0 when it has none).
size_t stream_entry_bytes(const redisReply *entry);

}  // namespace livesync::stream
