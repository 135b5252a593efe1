// One entry of the change stream as hiredis returns it ([id, [field, value, ...]]),
// read into a decoded batch. Shared by the live reader and the replay reader so both
// read entries the same way.
#pragma once

#include <hiredis/hiredis.h>

#include <string>

#include "sidecar/stream/stream_event.hpp"

namespace livesync::stream {

enum class EntryResult {
    Ok,         // out holds the entry
    BadBatch,   // the ID is valid (out.id set) but the batch is not: skip it, count it, log it
    BadShape,   // not a stream entry: the reply is unusable
};

// *id_text gets the entry's ID as Redis printed it (for logs); *error says what was wrong.
EntryResult read_stream_entry(const redisReply *entry, StreamBatch &out, std::string *id_text, std::string *error);

}  // namespace livesync::stream
