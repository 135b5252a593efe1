// Encodes one column value as a typed msgpack value of the batch format (see the type
// table in docs/architecture.md). Nothing here depends on the session's DateStyle,
// IntervalStyle, extra_float_digits or bytea_output: numbers are packed in binary,
// dates and times are formatted in ISO 8601 / XSD style explicitly, arrays become
// msgpack arrays. Runs in the per-change memory context; owns no C++ objects.
#pragma once

extern "C" {
#include "postgres.h"
}

#include <msgpack.h>

namespace livesync::extension::plugin {

void pack_value(msgpack_packer *pk, Oid typid, Datum value);

}  // namespace livesync::extension::plugin
