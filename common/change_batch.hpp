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
//          | map { "op": "t", "relations": [[schema, table], ...],
//                  "cascade": bool, "restart_identity": bool }   (one TRUNCATE statement)
//          | map { "op": "m", "channel": str, "payload": json(ext 2) }  (livesync.notify)
//          | map { "op": "s", "schema": str, "table": str,
//                  "columns": [[name, type], ...] }  (DDL on a published table: its
//                  published columns after the command, in attnum order, types as
//                  Postgres' format_type() writes them, e.g. "character varying(20)")
//
// `lsn` is the end of the transaction's commit record: the position the slot confirms
// once Redis acknowledged it, and the position a client resumes from. A transaction too
// big for one stream entry is cut into parts 0..n with the same lsn; only the last has
// final = true.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livesync::common {

inline constexpr uint32_t kBatchVersion = 1;

// msgpack extension type codes for values msgpack has no type for. Every body is
// UTF-8 text in a fixed, session-independent form (except kExtTimestamp).
inline constexpr int8_t kExtTimestamp = -1;      // msgpack's own timestamp type (timestamptz)
inline constexpr int8_t kExtNumeric = 1;         // decimal text, e.g. "12.340", "NaN", "Infinity"
inline constexpr int8_t kExtJson = 2;            // json / jsonb text, embedded as JSON
inline constexpr int8_t kExtText = 3;            // any other type, by its text output
inline constexpr int8_t kExtDate = 4;            // "2026-11-25", "infinity", 44 BC as "-000043-03-15"
inline constexpr int8_t kExtTime = 5;            // "08:43:28.123456" (time without time zone)
inline constexpr int8_t kExtTimeTz = 6;          // "08:43:28.123456+02:00"
inline constexpr int8_t kExtLocalTimestamp = 7;  // "2026-11-25T08:43:28.123456" (timestamp without tz)
inline constexpr int8_t kExtInterval = 8;        // ISO 8601 duration, "P1Y2M3DT4H5M6.5S"
inline constexpr int8_t kExtUuid = 9;            // "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"

// Framing of the output plugin's messages (one per decoding callback). The replicator
// reads the tag byte and copies change payloads verbatim into the batch.
inline constexpr char kTagBegin = 'B';   // payload: [lsn, xid, commit_unix_usec]
inline constexpr char kTagChange = 'C';  // payload: one change map
// payload: one or more records [uint32 big-endian length][change map]. The plugin packs
// consecutive changes of a transaction into one message (up to kChangeChunkBytes) so
// the walsender sends one CopyData message, and makes one send(), per chunk instead of
// per change.
inline constexpr char kTagChanges = 'M';
inline constexpr size_t kChangeChunkBytes = 64 * 1024;
inline constexpr char kTagConfig = 'K';  // payload: one change map of livesync.tables
inline constexpr char kTagCommit = 'E';  // payload: [lsn]

// Prefix of the transactional logical messages livesync.notify() emits; content is
// "<channel>\0<payload JSON>".
inline constexpr const char *kMessagePrefix = "livesync";
// Prefix of the transactional logical messages the extension's DDL event trigger emits
// after a command altered a published table; content is
// "<schema>\0<table>[\0<column>\0<type>]..." (its published columns after the command).
inline constexpr const char *kSchemaMessagePrefix = "livesync.schema";
// Prefix of the transactional logical message written when livesync.tables or
// livesync.rules is dropped (extension/config_drop.cpp); empty content. Decoded as a
// config change that empties both tables.
inline constexpr const char *kConfigResetPrefix = "livesync.config_reset";

enum class Op : char { Insert = 'i', Update = 'u', Delete = 'd', Truncate = 't', Message = 'm', Schema = 's' };

const char *op_name(Op op);  // "insert", "update", "delete", "truncate", "message", "schema"

// One decoded column value. Kept as close to the wire as possible: the sidecar only
// needs to filter on values and re-encode them, never to do arithmetic.
struct Value {
    enum class Kind {
        Null, Bool, Int, UInt, Float, Text, Bytes, Numeric, Json, Timestamp, OtherText,
        Date, Time, TimeTz, LocalTimestamp, Interval, Uuid, Array
    };
    Kind kind = Kind::Null;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double f = 0;
    bool f32 = false;     // Float: sent as float32 (real); JSON prints its shortest float32 form
    int64_t ts_sec = 0;   // Timestamp: seconds since the Unix epoch
    uint32_t ts_nsec = 0; // Timestamp: nanoseconds
    std::string s;        // Text, Bytes, Numeric, Json, OtherText and the date/time/uuid kinds
    std::vector<Value> elements;  // Array (nested arrays for more dimensions)
};

struct Column {
    std::string name;
    Value value;
};

struct ColumnType {
    std::string name;
    std::string type;  // format_type(): "integer", "text", "numeric(10,2)", "character varying(20)"
};

struct RelationName {
    std::string schema;
    std::string table;
};

struct Change {
    Op op = Op::Insert;
    std::string schema;  // insert, update, delete
    std::string table;
    std::vector<Column> new_values;
    std::vector<Column> old_values;
    std::vector<std::string> unchanged;
    std::vector<RelationName> relations;  // truncate: the published tables it emptied
    bool cascade = false;                 // truncate
    bool restart_identity = false;        // truncate
    std::string channel;                  // message
    std::string payload;                  // message: JSON text
    std::vector<ColumnType> columns;      // schema: the table's columns after the DDL
};

struct Transaction {
    uint64_t lsn = 0;
    uint32_t xid = 0;
    int64_t commit_sec = 0;
    uint32_t commit_nsec = 0;
    uint32_t part = 0;
    bool final = true;
    std::vector<Change> changes;

    // The commit time in microseconds since the Unix epoch.
    int64_t commit_unix_us() const { return commit_sec * 1000000 + commit_nsec / 1000; }
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

// Decodes one row: a msgpack {column: value} map as the "new" map of an insert
// (livesync.encode_row's output, a snapshot row).
std::optional<std::vector<Column>> decode_row(std::string_view bytes, std::string *error);

// The rows of a snapshot page (livesync.snapshot_pages: msgpack row maps back to back),
// one at a time. Each row is decoded into the caller's vector, whose strings and
// vectors it reuses, so reading a page allocates next to nothing per row.
class PageRows {
public:
    explicit PageRows(std::string_view page);
    ~PageRows();
    PageRows(const PageRows &) = delete;
    PageRows &operator=(const PageRows &) = delete;
    // The next row into `row` and its msgpack bytes into `raw`; false at the end of the
    // page, or (with *error set) when the bytes are not a row.
    bool next(std::vector<Column> &row, std::string_view &raw, std::string *error);

private:
    struct Unpacker;
    std::string_view page_;
    size_t offset_ = 0;
    std::unique_ptr<Unpacker> unpacker_;
};

// Appends a value as JSON text. Numeric and other-text values become JSON strings
// (lossless), json/jsonb is embedded as JSON, bytea becomes "\\x<hex>", timestamptz
// becomes an RFC 3339 string in UTC with microseconds (years outside 1..9999 as
// format_iso_year writes them), the date/time/interval/uuid kinds
// their text, floats the shortest text that reads back to the same float (NaN and
// ±Infinity as strings), arrays JSON arrays.
void append_value_json(std::string &out, const Value &value);
// The shortest decimal text that reads back as the same double (or float, when f32).
void append_float_json(std::string &out, double value, bool f32);
void append_json_string(std::string &out, std::string_view text);
void append_timestamp_json(std::string &out, int64_t sec, uint32_t nsec);

// The year of every date and timestamp text, in one form: years 1..9999 as RFC 3339
// writes them (four digits); any other year as ISO 8601's expanded form, the one
// ECMAScript's Date reads: a sign and at least six digits, astronomical numbering (year
// 0 is 1 BC, so 44 BC is "-000043", 10000 AD "+010000"). Writes it into buf, returns
// its length.
int format_iso_year(char *buf, size_t size, int64_t year);

// {"column":value,...} in the order given.
void append_columns_json(std::string &out, const std::vector<Column> &cols);

// {"op":"insert","schema":..,"table":..,"new":{..},"old":{..},"unchanged":[..]}
// {"op":"truncate","relations":[{"schema":..,"table":..}],"cascade":..,"restart_identity":..}
// {"op":"message","channel":..,"payload":<json>}
// {"op":"schema","schema":..,"table":..,"columns":[{"name":..,"type":..},...]}
void append_change_json(std::string &out, const Change &change);

// Renders a msgpack change map as the JSON above (used by the plugin's debug output,
// so pg_regress shows exactly what a JSON client would receive).
bool change_msgpack_to_json(std::string_view bytes, std::string &out, std::string *error);

}  // namespace livesync::common
