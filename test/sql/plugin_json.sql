-- The output plugin's JSON debug rendering: exactly what a JSON client receives.
CREATE EXTENSION livesync;
SELECT 'init' FROM pg_create_logical_replication_slot('regress_slot', 'livesync');

CREATE TABLE typed (
    id int PRIMARY KEY,
    i2 smallint, i8 bigint, f4 real, f8 double precision,
    num numeric, flag boolean, label text, code varchar(8), letter char(3),
    raw bytea, doc jsonb, js json, at timestamptz, day date, uid uuid
);
CREATE TABLE unpublished (id int PRIMARY KEY, secret text);
SELECT livesync.publish('typed');

-- relid and published_at differ from run to run; everything else is printed as emitted.
CREATE FUNCTION stable(data text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(data, '"relid":\d+', '"relid":N'),
                          '"published_at":"[^"]*"', '"published_at":T')
$$;

BEGIN;
INSERT INTO typed VALUES
    (1, -32768, 9223372036854775807, 1.5, -2.25e300, 12345678901234567890.123456789, true,
     E'quote " backslash \\ tab \t newline \n', 'v', 'ab', '\x00ff10', '{"b": [1, 2], "a": null}',
     '{"kept":  "as written"}', '2026-11-25 08:43:28.123456+00', '2026-11-25', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
    (2, NULL, NULL, 'NaN', '-Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'infinity', NULL, NULL);
INSERT INTO unpublished VALUES (1, 'never streamed');
COMMIT;

UPDATE typed SET label = 'changed' WHERE id = 1;
UPDATE typed SET id = 3 WHERE id = 2;
DELETE FROM typed WHERE id = 1;
INSERT INTO unpublished VALUES (2, 'a transaction with no published change emits nothing');

-- Under REPLICA IDENTITY FULL the old row is complete.
ALTER TABLE typed REPLICA IDENTITY FULL;
UPDATE typed SET label = 'full' WHERE id = 3;

SELECT stable(data) FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Unchanged TOASTed values are marked unchanged, not sent as NULL.
CREATE TABLE big (id int PRIMARY KEY, blob text, n int);
SELECT livesync.publish('big');
ALTER TABLE big ALTER COLUMN blob SET STORAGE EXTERNAL;
INSERT INTO big VALUES (1, repeat('x', 10000), 1);
SELECT 'skip' FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'json');
UPDATE big SET n = 2;
SELECT stable(data) FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Unpublishing takes effect at its commit: later changes are not emitted.
SELECT livesync.unpublish('typed');
INSERT INTO typed (id) VALUES (10);
SELECT stable(data) FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Columns outside a publication's column list never leave Postgres.
CREATE TABLE people (id int PRIMARY KEY, name text, ssn text);
SELECT livesync.publish('people', columns => ARRAY['id', 'name']);
ALTER TABLE people REPLICA IDENTITY FULL;
INSERT INTO people VALUES (1, 'Ada', '123-45-6789');
UPDATE people SET name = 'Ada L.';
DELETE FROM people;
SELECT stable(data) FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Bad options get a clear error.
SELECT data FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'include_txn_info', 'maybe');
SELECT data FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL, 'colour', 'blue');
-- The default format is binary msgpack, which the text interface refuses.
SELECT data FROM pg_logical_slot_get_changes('regress_slot', NULL, NULL);

SELECT 'stop' FROM pg_drop_replication_slot('regress_slot');
DROP TABLE typed, unpublished, big, people;
DROP FUNCTION stable(text);
DROP EXTENSION livesync;
