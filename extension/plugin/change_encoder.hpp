// Encodes one decoded row change as the msgpack change map of the batch format
// (common/change_batch.hpp), with typed values. Runs in the per-change memory context;
// owns no C++ objects, so a Postgres error inside it unwinds nothing.
#pragma once

extern "C" {
#include "postgres.h"

#include "replication/reorderbuffer.h"
#include "utils/rel.h"
}

#include <msgpack.h>

namespace livesync::extension::plugin {

// Returns false (and writes nothing) for change kinds that carry no row.
bool encode_change(msgpack_packer *pk, Relation relation, ReorderBufferChange *change);

// The msgpack packer callback appending to a StringInfo passed as its data pointer.
int append_to_stringinfo(void *data, const char *buf, size_t len);

}  // namespace livesync::extension::plugin
