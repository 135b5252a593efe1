-- Every built-in type travels typed and lossless, and the values do not depend on the
-- session's DateStyle, IntervalStyle, extra_float_digits, bytea_output or TimeZone.
CREATE EXTENSION livesync;
SELECT 'init' FROM pg_create_logical_replication_slot('types_slot', 'livesync');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE DOMAIN short_text AS varchar(5);
CREATE TABLE t (
    id int PRIMARY KEY,
    i2 int2, i4 int4, i8 int8, o oid,
    f4 float4, f8 float8, num numeric,
    b bool, txt text, vc varchar(10), ch char(3), raw bytea,
    js json, jb jsonb, u uuid,
    d date, tm time, ttz timetz, ts timestamp, tstz timestamptz, iv interval,
    e mood, pos positive, st short_text,
    ia int[], ta text[], m int[][], da date[], na numeric[], ea mood[], ba bytea[], ja jsonb[],
    inet_v inet, money_v money, range_v int4range, pt point,
    tsr tsrange, tstzr tstzrange, dr daterange, rec_iv interval[], comp_v pg_catalog.pg_lsn
);
SELECT livesync.publish('t');
SELECT 'skip' FROM pg_logical_slot_get_changes('types_slot', NULL, NULL, 'format', 'json');

-- Unusual session settings: none of them may change what is emitted.
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -15;
SET bytea_output = 'escape';
SET TimeZone = 'Asia/Kolkata';

INSERT INTO t VALUES (1,
    32767, -2147483648, -9223372036854775808, 4294967295,
    3.4028235e38, 1.7976931348623157e308, -0.000000000000000000001234500,
    false, '', 'ünïcødé ✓', 'a', '\x00010203feff',
    '[1, 2.50, "x"]', '{"z": 1, "a": [true, null]}', '00000000-0000-0000-0000-000000000000',
    '0044-03-15 BC', '23:59:59.999999', '00:00:00+14', '1999-12-31 23:59:59.5', '2000-01-01 05:30:00+05:30', '1 year 2 months 3 days 04:05:06.5',
    'happy', 7, 'abcde',
    '{1,NULL,-3}', '{"a,b","NULL",NULL,"quote\""}', '{{1,2},{3,4}}', '{2026-11-25,infinity}', '{1.50,NaN}', '{sad,ok}', '{"\\x00ff"}', '{"{\"a\": 1}"}',
    '192.168.0.1/24', 12.34, '[1,10)', '(1.5,-2)',
    '[2026-01-01 10:00, 2026-01-02 00:00:00.25)', '[2026-01-01 10:00+00,)', '[2026-01-01,2026-02-01)', '{"1 day","-2 hours"}', '16/B374D848');
INSERT INTO t (id, f4, f8, num, d, ts, tstz, iv, ia, m) VALUES (2,
    'Infinity', '-Infinity', 'Infinity', '-infinity', 'infinity', '-infinity', '-1 day -00:00:01', '{}', '{{NULL}}');
INSERT INTO t (id, f4, f8, num, tm, ttz, ts, tstz, iv) VALUES (3,
    0.1, 0.1, '-Infinity', '00:00', '12:34:56.789-03:30', '294276-12-31 23:59:59.999999', '1969-12-31 23:59:59.999999+00', '0');
INSERT INTO t (id, f4, f8, num) VALUES (4, '-0', 'NaN', '0.000');
-- Edge years: RFC 3339 for 0001..9999, ISO 8601 expanded years (sign, six or more digits,
-- 1 BC = +000000) beyond, in every date and time type and in arrays.
INSERT INTO t (id, d, ts, tstz, da) VALUES
    (5, '4713-01-01 BC', '4713-01-01 00:00:00 BC', '4714-11-24 00:00:00+00 BC', '{0001-12-31 BC,0002-01-01 BC}'),
    (6, '5874897-12-31', '10000-01-01 00:00:00.000001', '10000-01-01 00:00:00+00', '{10000-01-01}'),
    (7, '0044-03-15 BC', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC', '{0001-01-01,9999-12-31}'),
    (8, '0001-01-01', '9999-12-31 23:59:59.999999', '0001-01-01 00:00:00+00', NULL),
    (9, '9999-12-31', '0001-01-01 00:00:00', '9999-12-31 23:59:59.999999+00', NULL);

-- Decoded under the same unusual settings.
SELECT data FROM pg_logical_slot_get_changes('types_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');
RESET ALL;

SELECT 'stop' FROM pg_drop_replication_slot('types_slot');
DROP TABLE t;
DROP DOMAIN positive;
DROP DOMAIN short_text;
DROP TYPE mood;
DROP EXTENSION livesync;
