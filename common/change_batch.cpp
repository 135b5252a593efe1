#include "change_batch.hpp"

#include <msgpack.h>

#include "msgpack_guard.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace livesync::common {

const char *op_name(Op op) {
    switch (op) {
        case Op::Insert: return "insert";
        case Op::Update: return "update";
        case Op::Delete: return "delete";
        case Op::Truncate: return "truncate";
        case Op::Message: return "message";
        case Op::Schema: return "schema";
    }
    return "unknown";
}

namespace {

bool unpack_one(std::string_view bytes, Unpacked &u, std::string *error) {
    // Batches nest 5 levels (batch, txn, changes, change, values) plus array values.
    if (!msgpack_sizes_plausible(bytes, 64, error)) return false;
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&u.result, bytes.data(), bytes.size(), &off);
    if (rc != MSGPACK_UNPACK_SUCCESS) {
        *error = rc == MSGPACK_UNPACK_CONTINUE ? "truncated msgpack" : "malformed msgpack";
        return false;
    }
    if (off != bytes.size()) {
        *error = "trailing bytes after msgpack value";
        return false;
    }
    return true;
}

std::string_view str_of(const msgpack_object &o) {
    return {o.via.str.ptr, o.via.str.size};
}

bool key_is(const msgpack_object &k, const char *name) {
    return k.type == MSGPACK_OBJECT_STR && str_of(k) == name;
}

bool decode_timestamp(const msgpack_object &o, int64_t &sec, uint32_t &nsec) {
    if (o.type != MSGPACK_OBJECT_EXT || o.via.ext.type != kExtTimestamp) return false;
    msgpack_timestamp ts;
    // msgpack's timestamp spec caps nanoseconds at 999999999; more would render as a
    // 7-digit fraction.
    if (!msgpack_object_to_timestamp(&o, &ts) || ts.tv_nsec >= 1000000000u) return false;
    sec = ts.tv_sec;
    nsec = ts.tv_nsec;
    return true;
}

// Postgres arrays have at most 6 dimensions; anything deeper is not from us.
constexpr int kMaxArrayDepth = 6;

bool decode_value(const msgpack_object &o, Value &v, std::string *error, int depth = 0) {
    switch (o.type) {
        case MSGPACK_OBJECT_NIL: v.kind = Value::Kind::Null; return true;
        case MSGPACK_OBJECT_BOOLEAN: v.kind = Value::Kind::Bool; v.b = o.via.boolean; return true;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (o.via.u64 <= static_cast<uint64_t>(INT64_MAX)) {
                v.kind = Value::Kind::Int;
                v.i = static_cast<int64_t>(o.via.u64);
            } else {
                v.kind = Value::Kind::UInt;
                v.u = o.via.u64;
            }
            return true;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: v.kind = Value::Kind::Int; v.i = o.via.i64; return true;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            v.kind = Value::Kind::Float;
            v.f = o.via.f64;
            v.f32 = o.type == MSGPACK_OBJECT_FLOAT32;
            return true;
        case MSGPACK_OBJECT_ARRAY:
            if (depth >= kMaxArrayDepth) {
                *error = "array value nested too deep";
                return false;
            }
            v.kind = Value::Kind::Array;
            v.elements.resize(o.via.array.size);
            for (uint32_t i = 0; i < o.via.array.size; ++i)
                if (!decode_value(o.via.array.ptr[i], v.elements[i], error, depth + 1)) return false;
            return true;
        case MSGPACK_OBJECT_STR: v.kind = Value::Kind::Text; v.s.assign(str_of(o)); return true;
        case MSGPACK_OBJECT_BIN:
            v.kind = Value::Kind::Bytes;
            v.s.assign(o.via.bin.ptr, o.via.bin.size);
            return true;
        case MSGPACK_OBJECT_EXT:
            switch (o.via.ext.type) {
                case kExtTimestamp:
                    v.kind = Value::Kind::Timestamp;
                    if (!decode_timestamp(o, v.ts_sec, v.ts_nsec)) {
                        *error = "malformed timestamp value";
                        return false;
                    }
                    return true;
                case kExtNumeric: v.kind = Value::Kind::Numeric; break;
                case kExtJson: v.kind = Value::Kind::Json; break;
                case kExtText: v.kind = Value::Kind::OtherText; break;
                case kExtDate: v.kind = Value::Kind::Date; break;
                case kExtTime: v.kind = Value::Kind::Time; break;
                case kExtTimeTz: v.kind = Value::Kind::TimeTz; break;
                case kExtLocalTimestamp: v.kind = Value::Kind::LocalTimestamp; break;
                case kExtInterval: v.kind = Value::Kind::Interval; break;
                case kExtUuid: v.kind = Value::Kind::Uuid; break;
                default:
                    *error = "unknown value extension type " + std::to_string(o.via.ext.type);
                    return false;
            }
            v.s.assign(o.via.ext.ptr, o.via.ext.size);
            return true;
        default:
            *error = "unsupported value type in change";
            return false;
    }
}

bool decode_columns(const msgpack_object &o, std::vector<Column> &out, std::string *error) {
    if (o.type != MSGPACK_OBJECT_MAP) {
        *error = "column values must be a map";
        return false;
    }
    out.resize(o.via.map.size);
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack_object_kv &kv = o.via.map.ptr[i];
        if (kv.key.type != MSGPACK_OBJECT_STR) {
            *error = "column name must be a string";
            return false;
        }
        out[i].name.assign(str_of(kv.key));
        if (!decode_value(kv.val, out[i].value, error)) return false;
    }
    return true;
}

bool decode_relations(const msgpack_object &o, std::vector<RelationName> &out, std::string *error) {
    if (o.type != MSGPACK_OBJECT_ARRAY) {
        *error = "truncate relations must be an array of [schema, table]";
        return false;
    }
    out.resize(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
        const msgpack_object &r = o.via.array.ptr[i];
        if (r.type != MSGPACK_OBJECT_ARRAY || r.via.array.size != 2 || r.via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
            r.via.array.ptr[1].type != MSGPACK_OBJECT_STR) {
            *error = "truncate relations must be an array of [schema, table]";
            return false;
        }
        out[i].schema.assign(str_of(r.via.array.ptr[0]));
        out[i].table.assign(str_of(r.via.array.ptr[1]));
    }
    return true;
}

bool decode_column_types(const msgpack_object &o, std::vector<ColumnType> &out, std::string *error) {
    if (o.type != MSGPACK_OBJECT_ARRAY) {
        *error = "schema columns must be an array of [name, type]";
        return false;
    }
    out.resize(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
        const msgpack_object &r = o.via.array.ptr[i];
        if (r.type != MSGPACK_OBJECT_ARRAY || r.via.array.size != 2 || r.via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
            r.via.array.ptr[1].type != MSGPACK_OBJECT_STR) {
            *error = "schema columns must be an array of [name, type]";
            return false;
        }
        out[i].name.assign(str_of(r.via.array.ptr[0]));
        out[i].type.assign(str_of(r.via.array.ptr[1]));
    }
    return true;
}

bool decode_change_object(const msgpack_object &o, Change &c, std::string *error) {
    if (o.type != MSGPACK_OBJECT_MAP) {
        *error = "change must be a map";
        return false;
    }
    bool have_op = false, have_table = false, have_channel = false, have_columns = false;
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack_object &k = o.via.map.ptr[i].key;
        const msgpack_object &val = o.via.map.ptr[i].val;
        if (key_is(k, "op")) {
            if (val.type != MSGPACK_OBJECT_STR || val.via.str.size != 1 || val.via.str.ptr[0] == '\0' ||
                std::strchr("iudtms", val.via.str.ptr[0]) == nullptr) {
                *error = "change op must be one of \"i\", \"u\", \"d\", \"t\", \"m\", \"s\"";
                return false;
            }
            c.op = static_cast<Op>(val.via.str.ptr[0]);
            have_op = true;
        } else if (key_is(k, "schema") || key_is(k, "table")) {
            if (val.type != MSGPACK_OBJECT_STR) {
                *error = "change schema and table must be strings";
                return false;
            }
            (key_is(k, "schema") ? c.schema : c.table).assign(str_of(val));
            have_table = have_table || key_is(k, "table");
        } else if (key_is(k, "new")) {
            if (!decode_columns(val, c.new_values, error)) return false;
        } else if (key_is(k, "old")) {
            if (!decode_columns(val, c.old_values, error)) return false;
        } else if (key_is(k, "unchanged")) {
            if (val.type != MSGPACK_OBJECT_ARRAY) {
                *error = "unchanged must be an array of column names";
                return false;
            }
            for (uint32_t j = 0; j < val.via.array.size; ++j) {
                const msgpack_object &n = val.via.array.ptr[j];
                if (n.type != MSGPACK_OBJECT_STR) {
                    *error = "unchanged must be an array of column names";
                    return false;
                }
                c.unchanged.emplace_back(str_of(n));
            }
        } else if (key_is(k, "columns")) {
            if (!decode_column_types(val, c.columns, error)) return false;
            have_columns = true;
        } else if (key_is(k, "relations")) {
            if (!decode_relations(val, c.relations, error)) return false;
        } else if (key_is(k, "cascade") || key_is(k, "restart_identity")) {
            if (val.type != MSGPACK_OBJECT_BOOLEAN) {
                *error = "truncate cascade and restart_identity must be booleans";
                return false;
            }
            (key_is(k, "cascade") ? c.cascade : c.restart_identity) = val.via.boolean;
        } else if (key_is(k, "channel")) {
            if (val.type != MSGPACK_OBJECT_STR) {
                *error = "message channel must be a string";
                return false;
            }
            c.channel.assign(str_of(val));
            have_channel = true;
        } else if (key_is(k, "payload")) {
            if (val.type != MSGPACK_OBJECT_EXT || val.via.ext.type != kExtJson) {
                *error = "message payload must be JSON (ext 2)";
                return false;
            }
            c.payload.assign(val.via.ext.ptr, val.via.ext.size);
        }
        // Unknown keys are skipped: newer writers may add fields within version 1.
    }
    if (!have_op) {
        *error = "change lacks op";
        return false;
    }
    switch (c.op) {
        case Op::Truncate:
            if (c.relations.empty()) {
                *error = "truncate change lacks relations";
                return false;
            }
            return true;
        case Op::Schema:
            if (!have_table || !have_columns) {
                *error = "schema change lacks table or columns";
                return false;
            }
            return true;
        case Op::Message:
            if (!have_channel || c.payload.empty()) {
                *error = "message change lacks channel or payload";
                return false;
            }
            return true;
        default:
            if (!have_table) {
                *error = "change lacks table";
                return false;
            }
            return true;
    }
}

bool decode_txn(const msgpack_object &o, Transaction &t, std::string *error) {
    if (o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 6) {
        *error = "transaction must be an array of 6 elements";
        return false;
    }
    const msgpack_object *f = o.via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[3].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[4].type != MSGPACK_OBJECT_BOOLEAN ||
        f[5].type != MSGPACK_OBJECT_ARRAY) {
        *error = "transaction header has wrong field types";
        return false;
    }
    t.lsn = f[0].via.u64;
    t.xid = static_cast<uint32_t>(f[1].via.u64);
    if (!decode_timestamp(f[2], t.commit_sec, t.commit_nsec)) {
        *error = "transaction commit time is not a timestamp";
        return false;
    }
    t.part = static_cast<uint32_t>(f[3].via.u64);
    t.final = f[4].via.boolean;
    t.changes.resize(f[5].via.array.size);
    for (uint32_t i = 0; i < f[5].via.array.size; ++i)
        if (!decode_change_object(f[5].via.array.ptr[i], t.changes[i], error)) return false;
    return true;
}

const char kHex[] = "0123456789abcdef";

}  // namespace

std::optional<ChangeBatch> decode_batch(std::string_view bytes, std::string *error) {
    Unpacked u;
    if (!unpack_one(bytes, u, error)) return std::nullopt;
    const msgpack_object &root = u.result.data;
    if (root.type != MSGPACK_OBJECT_ARRAY || root.via.array.size != 2) {
        *error = "batch must be an array of [version, transactions]";
        return std::nullopt;
    }
    const msgpack_object *f = root.via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[0].via.u64 != kBatchVersion) {
        *error = "unsupported batch version";
        return std::nullopt;
    }
    if (f[1].type != MSGPACK_OBJECT_ARRAY) {
        *error = "batch transactions must be an array";
        return std::nullopt;
    }
    ChangeBatch batch;
    batch.transactions.resize(f[1].via.array.size);
    for (uint32_t i = 0; i < f[1].via.array.size; ++i)
        if (!decode_txn(f[1].via.array.ptr[i], batch.transactions[i], error)) return std::nullopt;
    return batch;
}

std::optional<std::vector<Column>> decode_row(std::string_view bytes, std::string *error) {
    Unpacked u;
    if (!unpack_one(bytes, u, error)) return std::nullopt;
    std::vector<Column> row;
    if (!decode_columns(u.result.data, row, error)) return std::nullopt;
    return row;
}

struct PageRows::Unpacker {
    Unpacked unpacked;
};

PageRows::PageRows(std::string_view page) : page_(page), unpacker_(std::make_unique<Unpacker>()) {}

PageRows::~PageRows() = default;

bool PageRows::next(std::vector<Column> &row, std::string_view &raw, std::string *error) {
    if (offset_ >= page_.size()) return false;
    std::string_view rest = page_.substr(offset_);
    if (!msgpack_sizes_plausible(rest, 64, error)) return false;
    size_t off = 0;
    // msgpack-c clears and reuses the result's zone.
    msgpack_unpack_return rc = msgpack_unpack_next(&unpacker_->unpacked.result, rest.data(), rest.size(), &off);
    if (rc != MSGPACK_UNPACK_SUCCESS && rc != MSGPACK_UNPACK_EXTRA_BYTES) {
        *error = rc == MSGPACK_UNPACK_CONTINUE ? "truncated msgpack" : "malformed msgpack";
        return false;
    }
    if (!decode_columns(unpacker_->unpacked.result.data, row, error)) return false;
    raw = rest.substr(0, off);
    offset_ += off;
    return true;
}

std::optional<Change> decode_change(std::string_view bytes, std::string *error) {
    Unpacked u;
    if (!unpack_one(bytes, u, error)) return std::nullopt;
    Change c;
    if (!decode_change_object(u.result.data, c, error)) return std::nullopt;
    return c;
}

void append_json_string(std::string &out, std::string_view text) {
    out += '"';
    // Runs of characters that need no escape are appended whole.
    size_t run = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        unsigned char ch = static_cast<unsigned char>(text[i]);
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        out.append(text.data() + run, i - run);
        run = i + 1;
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out += kHex[ch >> 4];
                out += kHex[ch & 15];
        }
    }
    out.append(text.data() + run, text.size() - run);
    out += '"';
}

void append_float_json(std::string &out, double d, bool f32) {
    if (std::isnan(d) || std::isinf(d)) {
        // JSON has no NaN/Infinity; send them as strings so nothing is lost.
        out += std::isnan(d) ? "\"NaN\"" : (d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char buf[32];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, d);
        if (f32 ? std::strtof(buf, nullptr) == static_cast<float>(d) : std::strtod(buf, nullptr) == d) break;
    }
    out += buf;
}

int format_iso_year(char *buf, size_t size, int64_t year) {
    int n = year >= 1 && year <= 9999
                ? std::snprintf(buf, size, "%04lld", static_cast<long long>(year))
                : std::snprintf(buf, size, "%c%06lld", year < 0 ? '-' : '+',
                                static_cast<long long>(year < 0 ? -year : year));
    return n < 0 ? 0 : (static_cast<size_t>(n) < size ? n : static_cast<int>(size) - 1);
}

void append_timestamp_json(std::string &out, int64_t sec, uint32_t nsec) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm;
    if (gmtime_r(&t, &tm) == nullptr) {
        // Outside what struct tm can hold (beyond any Postgres timestamp): still valid
        // JSON, and still lossless.
        char raw[48];
        std::snprintf(raw, sizeof raw, "\"@%lld.%09u\"", static_cast<long long>(sec), nsec);
        out += raw;
        return;
    }
    // gmtime_r counts years astronomically on the proleptic Gregorian calendar, as
    // Postgres does.
    char buf[64];
    buf[0] = '"';
    int n = 1 + format_iso_year(buf + 1, sizeof buf - 1, static_cast<int64_t>(tm.tm_year) + 1900);
    std::snprintf(buf + n, sizeof buf - n, "-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000);
    out += buf;
}

void append_value_json(std::string &out, const Value &v) {
    switch (v.kind) {
        case Value::Kind::Null: out += "null"; break;
        case Value::Kind::Bool: out += v.b ? "true" : "false"; break;
        case Value::Kind::Int: out += std::to_string(v.i); break;
        case Value::Kind::UInt: out += std::to_string(v.u); break;
        case Value::Kind::Float: append_float_json(out, v.f, v.f32); break;
        case Value::Kind::Text:
        case Value::Kind::Numeric:
        case Value::Kind::OtherText:
        case Value::Kind::Date:
        case Value::Kind::Time:
        case Value::Kind::TimeTz:
        case Value::Kind::LocalTimestamp:
        case Value::Kind::Interval:
        case Value::Kind::Uuid: append_json_string(out, v.s); break;
        case Value::Kind::Array:
            out += '[';
            for (size_t i = 0; i < v.elements.size(); ++i) {
                if (i) out += ',';
                append_value_json(out, v.elements[i]);
            }
            out += ']';
            break;
        case Value::Kind::Json: out += v.s; break;
        case Value::Kind::Bytes:
            out += "\"\\\\x";
            for (unsigned char ch : v.s) {
                out += kHex[ch >> 4];
                out += kHex[ch & 15];
            }
            out += '"';
            break;
        case Value::Kind::Timestamp: append_timestamp_json(out, v.ts_sec, v.ts_nsec); break;
    }
}

void append_columns_json(std::string &out, const std::vector<Column> &cols) {
    out += '{';
    bool first = true;
    for (const Column &c : cols) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, c.name);
        out += ':';
        append_value_json(out, c.value);
    }
    out += '}';
}

void append_change_json(std::string &out, const Change &c) {
    out += "{\"op\":\"";
    out += op_name(c.op);
    if (c.op == Op::Truncate) {
        out += "\",\"relations\":[";
        for (size_t i = 0; i < c.relations.size(); ++i) {
            if (i) out += ',';
            out += "{\"schema\":";
            append_json_string(out, c.relations[i].schema);
            out += ",\"table\":";
            append_json_string(out, c.relations[i].table);
            out += '}';
        }
        out += "],\"cascade\":";
        out += c.cascade ? "true" : "false";
        out += ",\"restart_identity\":";
        out += c.restart_identity ? "true" : "false";
        out += '}';
        return;
    }
    if (c.op == Op::Message) {
        out += "\",\"channel\":";
        append_json_string(out, c.channel);
        out += ",\"payload\":";
        out += c.payload;
        out += '}';
        return;
    }
    out += "\",\"schema\":";
    append_json_string(out, c.schema);
    out += ",\"table\":";
    append_json_string(out, c.table);
    if (c.op == Op::Schema) {
        out += ",\"columns\":[";
        for (size_t i = 0; i < c.columns.size(); ++i) {
            if (i) out += ',';
            out += "{\"name\":";
            append_json_string(out, c.columns[i].name);
            out += ",\"type\":";
            append_json_string(out, c.columns[i].type);
            out += '}';
        }
        out += "]}";
        return;
    }
    if (c.op != Op::Delete) {
        out += ",\"new\":";
        append_columns_json(out, c.new_values);
    }
    if (!c.old_values.empty()) {
        out += ",\"old\":";
        append_columns_json(out, c.old_values);
    }
    if (!c.unchanged.empty()) {
        out += ",\"unchanged\":[";
        for (size_t i = 0; i < c.unchanged.size(); ++i) {
            if (i) out += ',';
            append_json_string(out, c.unchanged[i]);
        }
        out += ']';
    }
    out += '}';
}

bool change_msgpack_to_json(std::string_view bytes, std::string &out, std::string *error) {
    auto change = decode_change(bytes, error);
    if (!change) return false;
    append_change_json(out, *change);
    return true;
}

}  // namespace livesync::common
