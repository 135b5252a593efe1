-- The SQL API: publish, unpublish, status.
CREATE EXTENSION livesync;

CREATE TABLE todo (id bigint PRIMARY KEY, title text NOT NULL, done boolean DEFAULT false);
CREATE SCHEMA app;
CREATE TABLE app.notes (id int PRIMARY KEY, body text);

-- Publishing returns true the first time, false when it already was.
SELECT livesync.publish('todo');
SELECT livesync.publish('todo');
SELECT livesync.publish('app.notes');
SELECT "table", published_at <= now() AS published_before_now FROM livesync.published_tables;
SELECT schema_name, table_name FROM livesync.tables ORDER BY 1, 2;

-- Only ordinary, WAL-logged tables outside schema livesync can be published.
CREATE VIEW todo_view AS SELECT * FROM todo;
SELECT livesync.publish('todo_view');
CREATE MATERIALIZED VIEW todo_mv AS SELECT * FROM todo;
SELECT livesync.publish('todo_mv');
CREATE SEQUENCE todo_seq;
SELECT livesync.publish('todo_seq');
CREATE UNLOGGED TABLE scratch (id int);
SELECT livesync.publish('scratch');
CREATE TEMP TABLE temp_scratch (id int);
SELECT livesync.publish('temp_scratch');
CREATE TABLE parted (id int) PARTITION BY RANGE (id);
SELECT livesync.publish('parted');
SELECT livesync.publish('livesync.tables');
SELECT livesync.publish('no_such_table');
SELECT livesync.publish(NULL);
SELECT livesync.unpublish(NULL);

-- Unpublishing returns whether it was published.
SELECT livesync.unpublish('app.notes');
SELECT livesync.unpublish('app.notes');
SELECT "table", published_at <= now() AS published_before_now FROM livesync.published_tables;

-- Only superusers (and whom they grant it to) may change what is published.
CREATE ROLE livesync_regress_user;
SET ROLE livesync_regress_user;
SELECT livesync.publish('todo');
RESET ROLE;
DROP ROLE livesync_regress_user;

-- Column lists and tenant isolation.
CREATE TABLE accounts (tenant_id text, id int, email text, secret text, PRIMARY KEY (tenant_id, id));
SELECT livesync.publish('accounts', columns => ARRAY['id', 'tenant_id', 'email'], tenant_column => 'tenant_id');
SELECT "table", columns, tenant_column FROM livesync.published_tables WHERE "table" = 'accounts'::regclass;
-- The same options again change nothing; other options update the publication.
SELECT livesync.publish('accounts', columns => ARRAY['email', 'id', 'tenant_id'], tenant_column => 'tenant_id');
SELECT livesync.publish('accounts', tenant_column => 'tenant_id');
SELECT "table", columns, tenant_column FROM livesync.published_tables WHERE "table" = 'accounts'::regclass;
SELECT livesync.publish('accounts', columns => ARRAY['id', 'nope']);
SELECT livesync.publish('accounts', columns => ARRAY['email']);
SELECT livesync.publish('accounts', columns => ARRAY[]::text[]);
SELECT livesync.publish('accounts', columns => ARRAY['id', 'tenant_id'], tenant_column => 'email');
SELECT livesync.publish('accounts', tenant_column => 'nope');
CREATE TABLE loose (id int PRIMARY KEY, tenant text);
SELECT livesync.publish('loose', tenant_column => 'tenant');
ALTER TABLE loose REPLICA IDENTITY FULL;
SELECT livesync.publish('loose', tenant_column => 'tenant');
CREATE TABLE keyless (n int);
SELECT livesync.publish('keyless');
ALTER TABLE keyless REPLICA IDENTITY FULL;
SELECT livesync.publish('keyless');

-- status() reports the replicator; values depend on timing, so check the shape.
SELECT slot_name, worker_pid IS NOT NULL AS worker_running FROM livesync.status();

DROP TABLE todo, app.notes, scratch, parted, accounts, loose, keyless CASCADE;
DROP SCHEMA app;
DROP EXTENSION livesync;
