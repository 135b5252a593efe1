-- What livesyncd reads a subscription snapshot with: livesync.snapshot_pages packs a
-- table's rows a page at a time, each row exactly as livesync.encode_row packs it (the
-- output plugin's encoder), and livesync.sync_config() is the sync config as the
-- caller's snapshot sees it.
CREATE EXTENSION livesync;

CREATE TABLE snap (id int PRIMARY KEY, org text, amount numeric(10, 2), at timestamptz, tags text[], doc jsonb,
                   big text, dropped int);
ALTER TABLE snap DROP COLUMN dropped;
-- Out of line and uncompressed: the scan sees TOAST pointers, the page holds the values.
ALTER TABLE snap ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO snap SELECT g, 'o' || (g % 3), g * 1.5, '2026-12-02 10:00:00+00'::timestamptz + g * interval '1 hour',
                        ARRAY['t' || g, NULL], jsonb_build_object('n', g),
                        CASE WHEN g = 4 THEN repeat(md5(g::text), 400) ELSE NULL END
  FROM generate_series(1, 10) g;
SELECT pg_relation_size(reltoastrelid) > 0 AS big_is_out_of_line FROM pg_class WHERE oid = 'snap'::regclass;

-- Pages of 3 rows: 4 pages, whose bytes are the rows' encode_row maps back to back.
SELECT count(*) AS pages FROM (SELECT livesync.snapshot_pages('snap', NULL, NULL, NULL, 3)) p;
SELECT (SELECT string_agg(p, ''::bytea) FROM (SELECT livesync.snapshot_pages('snap', NULL, NULL, NULL, 3) p) x)
     = (SELECT string_agg(livesync.encode_row(r), ''::bytea) FROM (SELECT * FROM snap ORDER BY ctid) r)
       AS same_as_encode_row;
-- A column list and one tenant: the same as encode_row of that SELECT.
SELECT (SELECT string_agg(p, ''::bytea)
          FROM (SELECT livesync.snapshot_pages('snap', ARRAY['id', 'big'], 'org', 'o1', 2) p) x)
     = (SELECT string_agg(livesync.encode_row(r), ''::bytea)
          FROM (SELECT id, big FROM snap WHERE org = 'o1' ORDER BY ctid) r) AS same_for_columns_and_tenant;
-- No rows: no pages.
SELECT count(*) AS pages FROM (SELECT livesync.snapshot_pages('snap', NULL, 'org', 'nobody', 5)) p;
-- Read through a cursor, one page per FETCH.
BEGIN;
DECLARE c NO SCROLL CURSOR FOR SELECT livesync.snapshot_pages('snap', ARRAY['id'], NULL, NULL, 4);
FETCH 1 FROM c;
FETCH 1 FROM c;
FETCH 1 FROM c;
FETCH 1 FROM c;
COMMIT;

-- Bad arguments are refused clearly.
SELECT livesync.snapshot_pages('snap', NULL, NULL, NULL, 0);
SELECT livesync.snapshot_pages('snap', ARRAY[]::text[], NULL, NULL, 5);
SELECT livesync.snapshot_pages('snap', ARRAY['id', NULL], NULL, NULL, 5);
SELECT livesync.snapshot_pages('snap', ARRAY['nope'], NULL, NULL, 5);
SELECT livesync.snapshot_pages('snap', NULL, 'org', NULL, 5);
SELECT livesync.snapshot_pages(NULL, NULL, NULL, NULL, 5);

-- It runs as its caller: no SELECT on the table, no rows.
CREATE ROLE snap_reader;
GRANT USAGE ON SCHEMA livesync TO snap_reader;
SET ROLE snap_reader;
SELECT livesync.snapshot_pages('public.snap', NULL, NULL, NULL, 5);
-- sync_config() is not executable by PUBLIC (it names roles and filters).
SELECT * FROM livesync.sync_config();
RESET ROLE;

ALTER TABLE snap REPLICA IDENTITY FULL;
SELECT livesync.publish('snap', ARRAY['id', 'org', 'big'], 'org');
SELECT livesync.grant('member', 'snap', 'id > 2', ARRAY['id', 'big']);
SELECT field, value::jsonb - 'filter' AS value, value::jsonb ? 'filter' AS has_filter
  FROM livesync.sync_config() ORDER BY field;
GRANT EXECUTE ON FUNCTION livesync.sync_config() TO snap_reader;
SET ROLE snap_reader;
SELECT count(*) FROM livesync.sync_config();
RESET ROLE;
DROP OWNED BY snap_reader;
DROP ROLE snap_reader;
DROP TABLE snap;
DROP EXTENSION livesync;
