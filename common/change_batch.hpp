// common/: the change-batch format shared by the extension (which writes it) and
// livesyncd (which reads it). No Postgres and no lws headers here, so both builds
// compile exactly these files; there is no second copy of the format anywhere.
//
// Wire format, version 1 (msgpack; every count is an array32/map32 where the writer
// patches it after the fact, any width where the writer knows it up front):
//
//   batch  = [ version:uint (=1), transactions:array ]
//   txn    = [ lsn:uint64, xid:uint32, commit_time:timestamp(ext -1),
//              part:uint32, final:bool, changes:array ]
//   change = map { "op": "i"|"u"|"d",
//                  "schema": str, "table": str,
//                  "new": map{column: value}   (insert, update)
//                  "old": map{column: value}   (update with changed key / FULL, delete)
//                  "unchanged": [column, ...]  (update: TOASTed columns not sent) }
//
// `lsn` is the end of the transaction's commit record: the position the slot confirms
// once Redis acknowledged it, and the position a client resumes from. A transaction too
// big for one stream entry is cut into parts 0..n with the same lsn; only the last has
// final = true.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::common {

inline constexpr uint32_t kBatchVersion = 1;

// msgpack extension type codes for values JSON cannot carry losslessly.
inline constexpr int8_t kExtTimestamp = -1;  // msgpack's own timestamp type
inline constexpr int8_t kExtNumeric = 1;     // decimal text, e.g. "12.340", "NaN"
inline constexpr int8_t kExtJson = 2;        // json / jsonb text, embedded as JSON
inline constexpr int8_t kExtText = 3;        // any other type, by its text output

// Framing of the output plugin's messages (one per decoding callback). The replicator
// reads the tag byte and copies change payloads verbatim into the batch.
inline constexpr char kTagBegin = 'B';   // payload: [lsn, xid, commit_unix_usec]
inline constexpr char kTagChange = 'C';  // payload: one change map
inline constexpr char kTagConfig = 'K';  // payload: one change map of livesync.tables
inline constexpr char kTagCommit = 'E';  // payload: [lsn]

enum class Op : char { Insert = 'i', Update = 'u', Delete = 'd' };

const char *op_name(Op op);  // "insert", "update", "delete"

// One decoded column value. Kept as close to the wire as possible: the sidecar only
// needs to filter on values and re-encode them, never to do arithmetic.
struct Value {
    enum class Kind { Null, Bool, Int, UInt, Float, Text, Bytes, Numeric, Json, Timestamp, OtherText };
    Kind kind = Kind::Null;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    int64_t ts_sec = 0;   // Timestamp: seconds since the Unix epoch
    uint32_t ts_nsec = 0; // Timestamp: nanoseconds
    std::string s;        // Text, Bytes, Numeric, Json, OtherText
};

struct Column {
    std::string name;
    Value value;
};

struct Change {
    Op op = Op::Insert;
    std::string schema;
    std::string table;
    std::vector<Column> new_values;
    std::vector<Column> old_values;
    std::vector<std::string> unchanged;
};

struct Transaction {
    uint64_t lsn = 0;
    uint32_t xid = 0;
    int64_t commit_sec = 0;
    uint32_t commit_nsec = 0;
    uint32_t part = 0;
    bool final = true;
    std::vector<Change> changes;
};

struct ChangeBatch {
    uint32_t version = kBatchVersion;
    std::vector<Transaction> transactions;
};

// Decodes one stream entry. Returns std::nullopt and sets *error to a message naming
// what was wrong when the bytes are not a version-1 batch.
std::optional<ChangeBatch> decode_batch(std::string_view bytes, std::string *error);

// Decodes one change map (the payload of a kTagChange plugin message).
std::optional<Change> decode_change(std::string_view bytes, std::string *error);

// Appends a value as JSON text. Numeric and other-text values become JSON strings
// (lossless), json/jsonb is embedded as JSON, bytea becomes "\\x<hex>", timestamps
// become RFC 3339 strings in UTC with microseconds.
void append_value_json(std::string &out, const Value &value);
void append_json_string(std::string &out, std::string_view text);
void append_timestamp_json(std::string &out, int64_t sec, uint32_t nsec);

// {"op":"insert","schema":..,"table":..,"new":{..},"old":{..},"unchanged":[..]}
void append_change_json(std::string &out, const Change &change);

// Renders a msgpack change map as the JSON above (used by the plugin's debug output,
// so pg_regress shows exactly what a JSON client would receive).
bool change_msgpack_to_json(std::string_view bytes, std::string &out, std::string *error);

}  // namespace livesync::common
