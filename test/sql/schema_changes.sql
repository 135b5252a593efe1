-- Schema changes to published tables: a DDL command that would leave a published table
-- without what publish() required (a replica identity naming each row, carrying the
-- tenant; the columns the sync config names) is refused with a hint; DROP TABLE
-- unpublishes the table in its own transaction. Unpublished tables are not affected.
CREATE EXTENSION livesync;
SELECT 'init' FROM pg_create_logical_replication_slot('schema_slot', 'livesync');
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE keyed (id int PRIMARY KEY, title text, extra text);
SELECT livesync.publish('keyed');
ALTER TABLE keyed REPLICA IDENTITY NOTHING;
ALTER TABLE keyed DROP CONSTRAINT keyed_pkey;
ALTER TABLE keyed DROP COLUMN id;
-- Nothing was changed by the refused commands.
SELECT relreplident, (SELECT count(*) FROM pg_index WHERE indrelid = 'keyed'::regclass) AS indexes
  FROM pg_class WHERE oid = 'keyed'::regclass;
-- Changes that keep an identity pass: other columns, FULL, and back to the key.
ALTER TABLE keyed ADD COLUMN added int, DROP COLUMN extra;
ALTER TABLE keyed ALTER COLUMN added TYPE bigint;
ALTER TABLE keyed RENAME COLUMN title TO heading;
ALTER TABLE keyed REPLICA IDENTITY FULL;
ALTER TABLE keyed DROP CONSTRAINT keyed_pkey;
ALTER TABLE keyed REPLICA IDENTITY DEFAULT;
ALTER TABLE keyed ADD PRIMARY KEY (id);
ALTER TABLE keyed REPLICA IDENTITY DEFAULT;

-- An identity index: dropping it, or making the table use a key-less identity, is refused.
CREATE TABLE indexed (id int NOT NULL, body text);
CREATE UNIQUE INDEX indexed_id ON indexed (id);
ALTER TABLE indexed REPLICA IDENTITY USING INDEX indexed_id;
SELECT livesync.publish('indexed');
DROP INDEX indexed_id;
ALTER INDEX indexed_id RENAME TO indexed_key;
ALTER TABLE indexed REPLICA IDENTITY DEFAULT;

-- A tenant table: deletes must carry the tenant, so the identity must hold it.
CREATE TABLE docs (tenant text NOT NULL, id int PRIMARY KEY, owner_id int, secret text);
ALTER TABLE docs REPLICA IDENTITY FULL;
SELECT livesync.publish('docs', columns => ARRAY['tenant', 'id', 'owner_id'], tenant_column => 'tenant');
SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')::int$$);
ALTER TABLE docs REPLICA IDENTITY DEFAULT;
-- Columns the config names follow the column (0.3): a rename keeps it under its new
-- name; dropping the tenant column disables the publication, dropping or retyping a
-- column a grant's filter reads disables the grant (WARNING; deny from that LSN).
BEGIN;
ALTER TABLE docs DROP COLUMN tenant;
SELECT columns, tenant_column, disabled FROM livesync.tables WHERE table_name = 'docs';
ROLLBACK;
BEGIN;
ALTER TABLE docs RENAME COLUMN tenant TO org;
SELECT columns, tenant_column, disabled FROM livesync.tables WHERE table_name = 'docs';
ROLLBACK;
BEGIN;
ALTER TABLE docs DROP COLUMN owner_id;
SELECT t.columns, r.filter_tree, r.disabled FROM livesync.tables t JOIN livesync.rules r USING (relid);
ROLLBACK;
BEGIN;
ALTER TABLE docs RENAME COLUMN owner_id TO owner;
SELECT t.columns, r.filter_tree, r.disabled FROM livesync.tables t JOIN livesync.rules r USING (relid);
ROLLBACK;
BEGIN;
ALTER TABLE docs ALTER COLUMN owner_id TYPE bigint;
SELECT r.disabled FROM livesync.rules r;
ROLLBACK;
-- An unpublished column is free to go.
ALTER TABLE docs DROP COLUMN secret;

-- Its name: the config and every subscription use it.
ALTER TABLE docs RENAME TO documents;
CREATE SCHEMA elsewhere;
ALTER TABLE docs SET SCHEMA elsewhere;
ALTER SCHEMA public RENAME TO renamed;
DROP SCHEMA elsewhere;

-- Unpublished tables are not guarded.
CREATE TABLE loose (id int PRIMARY KEY);
ALTER TABLE loose REPLICA IDENTITY NOTHING;
DROP TABLE loose;

-- The owner of a published table needs no privilege on livesync's tables to alter or drop it.
CREATE ROLE schema_owner;
CREATE TABLE owned (id int PRIMARY KEY);
ALTER TABLE owned OWNER TO schema_owner;
SELECT livesync.publish('owned');
SET ROLE schema_owner;
ALTER TABLE owned ADD COLUMN note text;
ALTER TABLE owned REPLICA IDENTITY NOTHING;
DROP TABLE owned;
RESET ROLE;

-- DROP TABLE unpublishes (and revokes), in the same transaction; DROP SCHEMA CASCADE too.
CREATE SCHEMA app;
CREATE TABLE app.notes (id int PRIMARY KEY);
SELECT livesync.publish('app.notes');
SELECT "table" FROM livesync.published_tables;
BEGIN;
DROP TABLE docs;
SELECT "table" FROM livesync.published_tables;
ROLLBACK;
DROP TABLE docs;
DROP SCHEMA app CASCADE;
SELECT "table" FROM livesync.published_tables;
SELECT role_name, table_name FROM livesync.rules;

-- Schema messages not of the event trigger's form are skipped with a WARNING; one of
-- that form is decoded as a schema change whoever emitted it.
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', ''::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', 'public'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', 'public\000keyed\000id'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', 'public\000\000id\000integer'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', 'public\000keyed\000'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(false, 'livesync.schema', 'public\000keyed'::bytea);
SELECT 'sent' FROM pg_logical_emit_message(true, 'livesync.schema', 'public\000keyed\000id\000integer'::bytea);

-- The unpublish is decoded in the DROP's own transaction (the only changes it has).
SELECT regexp_replace(regexp_replace(data, '"relid":\d+', '"relid":N'), '"(published|granted)_at":"[^"]*"', '"\1_at":T', 'g') AS data
  FROM pg_logical_slot_get_changes('schema_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

SELECT pg_drop_replication_slot('schema_slot');
DROP TABLE keyed, indexed;
DROP ROLE schema_owner;
DROP EXTENSION livesync;
