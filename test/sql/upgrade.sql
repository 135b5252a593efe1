-- ALTER EXTENSION livesync UPDATE reaches the current version from every released one
-- (0.1), keeps the sync config, and leaves the same extension a fresh install makes:
-- the same objects with the same definitions and privileges, behaving the same.
\set SHOW_CONTEXT never
CREATE EXTENSION livesync VERSION '0.1';
SELECT extversion FROM pg_extension WHERE extname = 'livesync';
SELECT source, target, path FROM pg_extension_update_paths('livesync') WHERE path IS NOT NULL ORDER BY 1, 2;

CREATE TABLE kept (tenant text, id int, body text, PRIMARY KEY (tenant, id));
SELECT livesync.publish('kept', tenant_column => 'tenant');
SELECT livesync.grant('member', 'kept', 'true', ARRAY['id', 'body']);
-- 0.1 let a published table lose its replica identity.
ALTER TABLE kept REPLICA IDENTITY NOTHING;

ALTER EXTENSION livesync UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'livesync';
SELECT "table", columns, tenant_column FROM livesync.published_tables;
SELECT role_name, table_name, columns FROM livesync.rules;
-- A table broken under 0.1 is found (docs/operations.md), and stops guarded DDL until fixed.
SELECT "table" FROM livesync.published_tables p WHERE livesync.identity_gap(p."table", p.tenant_column) IS NOT NULL;
CREATE TABLE unrelated (id int);
ALTER TABLE unrelated ADD COLUMN note text;
ALTER TABLE kept REPLICA IDENTITY DEFAULT;
SELECT "table" FROM livesync.published_tables p WHERE livesync.identity_gap(p."table", p.tenant_column) IS NOT NULL;
ALTER TABLE unrelated ADD COLUMN note text;
DROP TABLE unrelated;

-- Every member object of the extension, with what defines it.
CREATE FUNCTION pg_temp.livesync_objects() RETURNS TABLE (object text, definition text)
LANGUAGE sql AS $$
    SELECT pg_describe_object(d.classid, d.objid, 0),
           CASE d.classid
             WHEN 'pg_proc'::regclass THEN
               (SELECT pg_get_functiondef(p.oid) || ' acl ' || coalesce(p.proacl::text, 'default')
                  FROM pg_proc p WHERE p.oid = d.objid)
             WHEN 'pg_class'::regclass THEN
               (SELECT c.relkind::text || ' ' || c.relreplident::text || ' ' || coalesce(c.reloptions::text, '') || ' ' ||
                       coalesce(c.relacl::text, 'default') || ' ' ||
                       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
                                                   CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
                                                   coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                                   ', ' ORDER BY a.attnum)
                                   FROM pg_attribute a
                                   LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ' ||
                       coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
                                   FROM pg_constraint k WHERE k.conrelid = c.oid), '') ||
                       CASE WHEN c.relkind = 'v' THEN ' ' || pg_get_viewdef(c.oid) ELSE '' END
                  FROM pg_class c WHERE c.oid = d.objid)
             WHEN 'pg_event_trigger'::regclass THEN
               (SELECT t.evtevent::text || ' ' || coalesce(t.evttags::text, 'every tag') || ' ' || t.evtfoid::regproc::text ||
                       ' ' || t.evtenabled::text
                  FROM pg_event_trigger t WHERE t.oid = d.objid)
             ELSE '' END
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
     WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'livesync' AND d.deptype = 'e'
    UNION ALL
    SELECT 'config dump', e.extconfig::regclass[]::text || ' ' || e.extcondition::text
      FROM pg_extension e WHERE e.extname = 'livesync'
$$;
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.livesync_objects();

-- The updated install behaves as 0.2: the table's identity is guarded, a drop unpublishes.
ALTER TABLE kept REPLICA IDENTITY NOTHING;
SELECT livesync.publish('kept', columns => ARRAY['tenant', 'id']);
SELECT livesync.grant('member', 'kept', 'true', ARRAY['id']);
DROP TABLE kept;
SELECT count(*) AS published FROM livesync.published_tables;
SELECT count(*) AS rules FROM livesync.rules;

DROP EXTENSION livesync;
CREATE EXTENSION livesync;
SELECT extversion FROM pg_extension WHERE extname = 'livesync';
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.livesync_objects();

-- The same, on a fresh install.
CREATE TABLE kept (tenant text, id int, body text, PRIMARY KEY (tenant, id));
SELECT livesync.publish('kept', tenant_column => 'tenant');
SELECT livesync.grant('member', 'kept', 'true', ARRAY['id', 'body']);
ALTER TABLE kept REPLICA IDENTITY NOTHING;
SELECT livesync.publish('kept', columns => ARRAY['tenant', 'id']);
SELECT livesync.grant('member', 'kept', 'true', ARRAY['id']);
DROP TABLE kept;
SELECT count(*) AS published FROM livesync.published_tables;
SELECT count(*) AS rules FROM livesync.rules;

-- Updated and fresh hold the same objects, defined the same way.
SELECT count(*) > 20 AS many_objects FROM fresh;
SELECT 'only after update' AS side, * FROM (SELECT * FROM updated EXCEPT SELECT * FROM fresh) u
UNION ALL
SELECT 'only when fresh', * FROM (SELECT * FROM fresh EXCEPT SELECT * FROM updated) f;

DROP EXTENSION livesync;
