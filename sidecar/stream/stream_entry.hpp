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
EntryResult read_stream_entry(const redisReply *entry, StreamBatch &out, std::string *id_text, std::string *error);

// The ID of one entry ([id, [field, value, ...]]), without decoding its batch.
std::optional<common::StreamId> stream_entry_id(const redisReply *entry);

// The ID of the only entry of an XRANGE/XREVRANGE ... COUNT 1 reply; nullopt when empty.
std::optional<common::StreamId> single_entry_id(const redisReply *reply);

// From the replies of GET <prefix>trimmed_lsn, XREVRANGE <stream> <position> - COUNT 1
// and XREVRANGE <stream> + - COUNT 1, read in one MULTI/EXEC. A marker that is not a
// number counts as absent (no proof from it).
StreamView read_stream_view(const redisReply *trimmed_lsn, const redisReply *at_or_below, const redisReply *tail);

}  // namespace livesync::stream
