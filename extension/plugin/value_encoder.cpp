#include "value_encoder.hpp"

#include "common/change_batch.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace livesync::extension::plugin {

namespace common = livesync::common;

namespace {

void pack_ext_text(msgpack_packer *pk, int8_t type, const char *s) {
    size_t len = strlen(s);
    msgpack_pack_ext(pk, len, type);
    msgpack_pack_ext_body(pk, s, len);
}

// A type's text output under fixed settings: ISO dates (YMD), ISO 8601 intervals,
// shortest-exact floats, hex bytea, UTC. The output of ranges, geometric types,
// composites and the like then does not depend on the walsender's or the session's
// settings. (money still follows lc_monetary.) The settings are restored even when the
// output function raises an error.
char *output_text(Oid typid, Datum value) {
    Oid out_func;
    bool is_varlena;
    getTypeOutputInfo(typid, &out_func, &is_varlena);
    static pg_tz *utc = nullptr;
    if (utc == nullptr) utc = pg_tzset("UTC");
    int saved_date_style = DateStyle, saved_date_order = DateOrder, saved_interval_style = IntervalStyle;
    int saved_float_digits = extra_float_digits, saved_bytea_output = bytea_output;
    pg_tz *saved_timezone = session_timezone;
    char *volatile text = nullptr;
    PG_TRY();
    {
        DateStyle = USE_ISO_DATES;
        DateOrder = DATEORDER_YMD;
        IntervalStyle = INTSTYLE_ISO_8601;
        extra_float_digits = 1;
        bytea_output = BYTEA_OUTPUT_HEX;
        if (utc != nullptr) session_timezone = utc;
        text = OidOutputFunctionCall(out_func, value);
    }
    PG_FINALLY();
    {
        DateStyle = saved_date_style;
        DateOrder = saved_date_order;
        IntervalStyle = saved_interval_style;
        extra_float_digits = saved_float_digits;
        bytea_output = saved_bytea_output;
        session_timezone = saved_timezone;
    }
    PG_END_TRY();
    return text;
}

void pack_timestamptz(msgpack_packer *pk, TimestampTz ts) {
    int64 unix_usec = ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
    msgpack_timestamp mts;
    mts.tv_sec = unix_usec / USECS_PER_SEC;
    int64 usec = unix_usec % USECS_PER_SEC;
    if (usec < 0) {
        usec += USECS_PER_SEC;
        mts.tv_sec -= 1;
    }
    mts.tv_nsec = static_cast<uint32_t>(usec * 1000);
    msgpack_pack_timestamp(pk, &mts);
}

// timestamp without time zone: "YYYY-MM-DDTHH:MM:SS[.ffffff]" (trailing zeros of the
// fraction dropped), years outside 1..9999 as common::format_iso_year writes them
// ("-000043-03-15T12:00:00" is 44 BC), 'infinity' / '-infinity' as such.
void pack_local_timestamp(msgpack_packer *pk, Timestamp ts) {
    char buf[MAXDATELEN + 1];
    struct pg_tm tm;
    fsec_t fsec;
    if (TIMESTAMP_NOT_FINITE(ts)) {
        EncodeSpecialTimestamp(ts, buf);
    } else if (timestamp2tm(ts, nullptr, &tm, &fsec, nullptr, nullptr) == 0) {
        // tm_year is astronomical here (0 is 1 BC), as format_iso_year expects.
        int n = common::format_iso_year(buf, sizeof buf, tm.tm_year);
        n += snprintf(buf + n, sizeof buf - n, "-%02d-%02dT%02d:%02d:%02d", tm.tm_mon, tm.tm_mday, tm.tm_hour,
                      tm.tm_min, tm.tm_sec);
        if (fsec != 0) {
            n += snprintf(buf + n, sizeof buf - n, ".%06d", static_cast<int>(fsec));
            while (buf[n - 1] == '0') buf[--n] = '\0';
        }
    } else {
        ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE), errmsg("timestamp out of range")));
    }
    pack_ext_text(pk, common::kExtLocalTimestamp, buf);
}

// date: "YYYY-MM-DD", years outside 1..9999 as format_iso_year writes them
// ("-000043-03-15" is 44 BC, "+010000-01-01"), 'infinity' / '-infinity' as such.
void pack_date(msgpack_packer *pk, DateADT date) {
    char buf[MAXDATELEN + 1];
    if (DATE_NOT_FINITE(date)) {
        EncodeSpecialDate(date, buf);
    } else {
        struct pg_tm tm;
        j2date(date + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
        int n = common::format_iso_year(buf, sizeof buf, tm.tm_year);
        snprintf(buf + n, sizeof buf - n, "-%02d-%02d", tm.tm_mon, tm.tm_mday);
    }
    pack_ext_text(pk, common::kExtDate, buf);
}

void pack_time(msgpack_packer *pk, TimeADT time) {
    char buf[MAXDATELEN + 1];
    struct pg_tm tm;
    fsec_t fsec;
    time2tm(time, &tm, &fsec);
    EncodeTimeOnly(&tm, fsec, false, 0, USE_XSD_DATES, buf);
    pack_ext_text(pk, common::kExtTime, buf);
}

void pack_timetz(msgpack_packer *pk, TimeTzADT *time) {
    char buf[MAXDATELEN + 1];
    struct pg_tm tm;
    fsec_t fsec;
    int tz;
    timetz2tm(time, &tm, &fsec, &tz);
    EncodeTimeOnly(&tm, fsec, true, tz, USE_XSD_DATES, buf);
    pack_ext_text(pk, common::kExtTimeTz, buf);
}

// ISO 8601 duration ("P1Y2M3DT4H5M6.5S"), whatever the session's IntervalStyle.
void pack_interval(msgpack_packer *pk, Interval *span) {
    char buf[MAXDATELEN + 1];
    struct pg_itm itm;
    interval2itm(*span, &itm);
    EncodeInterval(&itm, INTSTYLE_ISO_8601, buf);
    pack_ext_text(pk, common::kExtInterval, buf);
}

// Packs dimension `dim` of an array as nested msgpack arrays; *pos walks the elements.
void pack_array_dim(msgpack_packer *pk, int dim, int ndim, const int *dims, Datum *elems, bool *nulls, int *pos,
                    Oid elem_type) {
    msgpack_pack_array(pk, dims[dim]);
    for (int i = 0; i < dims[dim]; ++i) {
        if (dim + 1 < ndim) {
            pack_array_dim(pk, dim + 1, ndim, dims, elems, nulls, pos, elem_type);
            continue;
        }
        if (nulls[*pos]) msgpack_pack_nil(pk);
        else pack_value(pk, elem_type, elems[*pos]);
        ++*pos;
    }
}

// Arrays of any element type as msgpack arrays, nested per dimension, NULL elements as
// nil. Lower bounds other than 1 are not carried (see docs/architecture.md).
void pack_array(msgpack_packer *pk, Oid elem_type, Datum value) {
    ArrayType *array = DatumGetArrayTypeP(value);
    int16 elmlen;
    bool elmbyval;
    char elmalign;
    get_typlenbyvalalign(elem_type, &elmlen, &elmbyval, &elmalign);
    Datum *elems;
    bool *nulls;
    int count;
    deconstruct_array(array, elem_type, elmlen, elmbyval, elmalign, &elems, &nulls, &count);
    int ndim = ARR_NDIM(array);
    if (ndim == 0) {
        msgpack_pack_array(pk, 0);
        return;
    }
    int pos = 0;
    pack_array_dim(pk, 0, ndim, ARR_DIMS(array), elems, nulls, &pos, elem_type);
}

// The built-in types packed natively are base types, never domains: no catalog lookup
// for them (getBaseType is a syscache search per value: a snapshot packs millions).
bool is_native_base_type(Oid typid) {
    switch (typid) {
        case BOOLOID: case INT2OID: case INT4OID: case INT8OID: case OIDOID: case FLOAT4OID: case FLOAT8OID:
        case TEXTOID: case VARCHAROID: case BPCHAROID: case BYTEAOID: case NUMERICOID: case JSONOID:
        case JSONBOID: case UUIDOID: case DATEOID: case TIMEOID: case TIMETZOID: case TIMESTAMPOID:
        case TIMESTAMPTZOID: case INTERVALOID: return true;
        default: return false;
    }
}

}  // namespace

void pack_value(msgpack_packer *pk, Oid typid, Datum value) {
    Oid base = is_native_base_type(typid) ? typid : getBaseType(typid);  // domains travel as their base type
    switch (base) {
        case BOOLOID: DatumGetBool(value) ? msgpack_pack_true(pk) : msgpack_pack_false(pk); return;
        case INT2OID: msgpack_pack_int64(pk, DatumGetInt16(value)); return;
        case INT4OID: msgpack_pack_int64(pk, DatumGetInt32(value)); return;
        case INT8OID: msgpack_pack_int64(pk, DatumGetInt64(value)); return;
        case OIDOID: msgpack_pack_uint64(pk, DatumGetObjectId(value)); return;
        case FLOAT4OID: msgpack_pack_float(pk, DatumGetFloat4(value)); return;
        case FLOAT8OID: msgpack_pack_double(pk, DatumGetFloat8(value)); return;
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID: {
            text *t = DatumGetTextPP(value);
            msgpack_pack_str_with_body(pk, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
            return;
        }
        case BYTEAOID: {
            bytea *b = DatumGetByteaPP(value);
            msgpack_pack_bin_with_body(pk, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
            return;
        }
        case NUMERICOID: pack_ext_text(pk, common::kExtNumeric, output_text(base, value)); return;
        case JSONOID:
        case JSONBOID: pack_ext_text(pk, common::kExtJson, output_text(base, value)); return;
        case UUIDOID: pack_ext_text(pk, common::kExtUuid, output_text(base, value)); return;
        case DATEOID: pack_date(pk, DatumGetDateADT(value)); return;
        case TIMEOID: pack_time(pk, DatumGetTimeADT(value)); return;
        case TIMETZOID: pack_timetz(pk, DatumGetTimeTzADTP(value)); return;
        case TIMESTAMPOID: pack_local_timestamp(pk, DatumGetTimestamp(value)); return;
        case TIMESTAMPTZOID: {
            TimestampTz ts = DatumGetTimestampTz(value);
            if (!TIMESTAMP_NOT_FINITE(ts)) {
                pack_timestamptz(pk, ts);
                return;
            }
            char buf[MAXDATELEN + 1];  // 'infinity' / '-infinity'
            EncodeSpecialTimestamp(ts, buf);
            pack_ext_text(pk, common::kExtText, buf);
            return;
        }
        case INTERVALOID: pack_interval(pk, DatumGetIntervalP(value)); return;
        default: break;
    }
    Oid elem_type = get_element_type(base);
    if (OidIsValid(elem_type)) {
        pack_array(pk, elem_type, value);
        return;
    }
    char *text = output_text(base, value);
    if (type_is_enum(base)) msgpack_pack_str_with_body(pk, text, strlen(text));
    else pack_ext_text(pk, common::kExtText, text);
}

}  // namespace livesync::extension::plugin
