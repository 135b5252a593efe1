-- livesync 0.1 -> 0.2: schema changes to published tables are handled, not suffered.
-- (A fresh CREATE EXTENSION livesync runs livesync--0.1.sql and then this script, so a
-- fresh install and an updated one are the same objects; test/sql/upgrade.sql checks it.)
\echo Use "ALTER EXTENSION livesync UPDATE TO '0.2'" to load this file. \quit

-- What publishing requires of a table's replica identity, in one place: publish() checks
-- it before publishing, the DDL guard below after every change to a published table.
-- NULL when updates and deletes name their row (and, given a tenant column, carry it);
-- 'none' when the table has no usable replica identity (NOTHING, or DEFAULT / USING INDEX
-- without the key or index); 'tenant' when the identity leaves out the tenant column.
CREATE FUNCTION livesync.identity_gap(target regclass, tenant_column text) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT CASE
             WHEN c.relreplident = 'n' OR (c.relreplident IN ('d', 'i') AND i.columns IS NULL) THEN 'none'
             WHEN tenant_column IS NOT NULL AND c.relreplident <> 'f' AND NOT tenant_column = ANY (i.columns)
               THEN 'tenant'
           END
      FROM pg_class c, livesync.identity_columns(target) i
     WHERE c.oid = target
$$;

-- publish() as in 0.1, its replica identity checks now through identity_gap().
CREATE OR REPLACE FUNCTION livesync.publish(target regclass, columns text[] DEFAULT NULL, tenant_column text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    rel record;
    identity_columns text[];
    missing text;
    previous record;
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'livesync.publish: the table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.oid, c.relkind, c.relpersistence, c.relreplident, n.nspname, c.relname
      INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = target;
    IF rel.relkind IS DISTINCT FROM 'r' THEN
        RAISE EXCEPTION 'livesync.publish: "%" is not a table', target
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = format('It is a %s.', CASE rel.relkind
                      WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                      WHEN 'p' THEN 'partitioned table' WHEN 'f' THEN 'foreign table'
                      WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' ELSE 'relation of kind ' || rel.relkind::text END),
                  HINT = 'Only ordinary tables can be published; publish the partitions of a partitioned table.';
    END IF;
    IF rel.relpersistence <> 'p' THEN
        RAISE EXCEPTION 'livesync.publish: "%" is % and its changes are not written to WAL', target,
            CASE rel.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'temporary' END
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF rel.nspname = 'livesync' THEN
        RAISE EXCEPTION 'livesync.publish: tables of schema livesync cannot be published'
            USING ERRCODE = 'wrong_object_type';
    END IF;

    -- Clients apply updates and deletes by the row's identity: there must be one.
    SELECT i.columns INTO identity_columns FROM livesync.identity_columns(target) i;
    IF livesync.identity_gap(target, NULL) = 'none' THEN
        RAISE EXCEPTION 'livesync.publish: "%" has no replica identity, so its updates and deletes cannot name their row', target
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Add a primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL.', target);
    END IF;

    PERFORM livesync.check_columns('livesync.publish', target, columns);
    IF columns IS NOT NULL THEN
        SELECT c INTO missing FROM unnest(identity_columns) AS c WHERE NOT c = ANY (columns) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'livesync.publish: the column list of % leaves out identity column %', target, quote_ident(missing)
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Clients need the identity columns to apply updates and deletes.';
        END IF;
        columns := ARRAY(SELECT DISTINCT c FROM unnest(columns) AS c ORDER BY c);
    END IF;

    IF tenant_column IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = target AND a.attname = tenant_column
                          AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'livesync.publish: % has no column % (tenant_column)', target, quote_ident(tenant_column)
                USING ERRCODE = 'undefined_column';
        END IF;
        IF columns IS NOT NULL AND NOT tenant_column = ANY (columns) THEN
            RAISE EXCEPTION 'livesync.publish: tenant column % must be one of the published columns', quote_ident(tenant_column)
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Deletes and key changes must say which tenant the row belonged to.
        IF livesync.identity_gap(target, tenant_column) = 'tenant' THEN
            RAISE EXCEPTION 'livesync.publish: tenant column % is not part of the replica identity of %', quote_ident(tenant_column), target
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Deletes must carry the tenant: include it in the primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL.', target);
        END IF;
    END IF;

    SELECT t.columns, t.tenant_column INTO previous FROM livesync.tables t WHERE t.relid = target;
    IF FOUND THEN
        IF previous.columns IS NOT DISTINCT FROM columns AND previous.tenant_column IS NOT DISTINCT FROM tenant_column THEN
            RETURN false;
        END IF;
        -- (ON CONFLICT is not allowed on a user_catalog_table.)
        UPDATE livesync.tables t SET columns = publish.columns, tenant_column = publish.tenant_column
         WHERE t.relid = target;
        RETURN true;
    END IF;
    INSERT INTO livesync.tables (relid, schema_name, table_name, tenant_column, columns)
    VALUES (rel.oid, rel.nspname, rel.relname, tenant_column, columns);
    RETURN true;
END
$$;

-- Emits, in the caller's transaction, a logical message (prefix livesync.schema) with the
-- published columns of a published table as they are now: the output plugin turns it
-- into an "s" change in its place in the stream, which reaches the table's subscribers as
-- a schema message (only the columns each may see). Content:
-- "<schema>\0<table>[\0<column>\0<type>]...", types as format_type() writes them.
CREATE FUNCTION livesync.emit_schema(target regclass) RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    content bytea;
    col record;
BEGIN
    SELECT convert_to(t.schema_name, 'UTF8') || '\x00'::bytea || convert_to(t.table_name, 'UTF8') INTO content
      FROM (SELECT n.nspname::text AS schema_name, c.relname::text AS table_name
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = target) t;
    FOR col IN
        SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
          FROM pg_attribute a, livesync.tables l
         WHERE l.relid = target AND a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
           AND (l.columns IS NULL OR a.attname = ANY (l.columns))
         ORDER BY a.attnum
    LOOP
        content := content || '\x00'::bytea || convert_to(col.name, 'UTF8') || '\x00'::bytea || convert_to(col.type, 'UTF8');
    END LOOP;
    RETURN pg_logical_emit_message(true, 'livesync.schema', content);
END
$$;

-- Refuses a DDL command that leaves a published table without what publish() required
-- of it: a replica identity that names each updated or deleted row (and carries the
-- tenant column of a tenant table), the columns the sync config names (published
-- columns, tenant column, the columns of grants and the columns their filters read), and
-- its name (schema and table, which the config and subscriptions use).
-- Runs at ddl_command_end, so it sees the table as the command left it, and an ERROR
-- rolls the command back. A command that passes and altered a published table emits its
-- new shape (livesync.emit_schema). SECURITY DEFINER: a table's owner may alter it without any
-- privilege on livesync's own tables.
CREATE FUNCTION livesync.guard_published_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    t record;
    gap text;
    named text;
    altered oid;
BEGIN
    FOR t IN SELECT l.relid, l.relid::regclass AS target, l.tenant_column, l.columns, l.schema_name, l.table_name,
                    n.nspname::text AS now_schema, c.relname::text AS now_table
               FROM livesync.tables l JOIN pg_class c ON c.oid = l.relid JOIN pg_namespace n ON n.oid = c.relnamespace
    LOOP
        -- The config, the Redis copy and every subscription name the table: a rename would
        -- strand them (its rows would arrive under a name nobody subscribed to).
        IF (t.now_schema, t.now_table) IS DISTINCT FROM (t.schema_name, t.table_name) THEN
            RAISE EXCEPTION 'livesync: % would rename published table %.% to %.%',
                tg_tag, quote_ident(t.schema_name), quote_ident(t.table_name), quote_ident(t.now_schema),
                quote_ident(t.now_table)
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Unpublish it first (SELECT livesync.unpublish(%L);), rename it, then publish and grant it again.',
                                    quote_ident(t.schema_name) || '.' || quote_ident(t.table_name));
        END IF;
        gap := livesync.identity_gap(t.relid, t.tenant_column);
        IF gap = 'none' THEN
            RAISE EXCEPTION 'livesync: % would leave published table % without a replica identity, so its updates and deletes could not name their row',
                tg_tag, t.target
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Keep a primary key or REPLICA IDENTITY FULL on %s, or unpublish it first: SELECT livesync.unpublish(%L);',
                                    t.target, t.target::text);
        END IF;
        -- Every column name the config holds for this table must still be a live column.
        FOR named IN
            SELECT c FROM unnest(coalesce(t.columns, '{}') || t.tenant_column) AS c WHERE c IS NOT NULL
            UNION
            SELECT c FROM livesync.rules r, unnest(r.columns) AS c WHERE r.relid = t.relid
            UNION
            SELECT f #>> '{}' FROM livesync.rules r, jsonb_path_query(r.filter_tree::jsonb, 'lax $.**.col') AS f
             WHERE r.relid = t.relid
        LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.relid AND a.attname = named
                              AND a.attnum > 0 AND NOT a.attisdropped) THEN
                RAISE EXCEPTION 'livesync: % would drop or rename column % of published table %, which its sync config names',
                    tg_tag, quote_ident(named), t.target
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Publish the table again with a column list without it, or revoke the grants that name it, first.';
            END IF;
        END LOOP;
        -- Deletes and key changes of a tenant table must say which tenant the row belonged to.
        IF gap = 'tenant' THEN
            RAISE EXCEPTION 'livesync: % would leave tenant column % of published table % out of its replica identity, so its deletes could not say whose row they remove',
                tg_tag, quote_ident(t.tenant_column), t.target
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Keep %s in the primary key, or run ALTER TABLE %s REPLICA IDENTITY FULL first.',
                                    quote_ident(t.tenant_column), t.target);
        END IF;
    END LOOP;
    FOR altered IN
        SELECT DISTINCT d.objid FROM pg_event_trigger_ddl_commands() d JOIN livesync.tables l ON l.relid = d.objid
         WHERE d.classid = 'pg_class'::regclass AND d.command_tag = 'ALTER TABLE'
    LOOP
        PERFORM livesync.emit_schema(altered);
    END LOOP;
END
$$;
CREATE EVENT TRIGGER livesync_guard_published_tables ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'DROP INDEX', 'ALTER INDEX', 'ALTER SCHEMA')
    EXECUTE FUNCTION livesync.guard_published_tables();

-- DROP TABLE (or DROP SCHEMA ... CASCADE, DROP OWNED) of a published table unpublishes
-- it in the same transaction: the delete of its livesync.tables row travels the change
-- stream at that LSN like an unpublish, so the Redis config forgets the table and every
-- sidecar ends its subscriptions with unknown_table. Its access rules go with it.
CREATE FUNCTION livesync.forget_dropped_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    dropped oid[];
BEGIN
    SELECT array_agg(d.objid) INTO dropped FROM pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0;
    IF dropped IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM livesync.rules WHERE relid = ANY (dropped);
    DELETE FROM livesync.tables WHERE relid = ANY (dropped);
END
$$;
CREATE EVENT TRIGGER livesync_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION livesync.forget_dropped_tables();

REVOKE ALL ON FUNCTION livesync.guard_published_tables(), livesync.forget_dropped_tables(),
    livesync.identity_gap(regclass, text),
    livesync.emit_schema(regclass) FROM PUBLIC;

-- One row as the msgpack map the output plugin packs for an insert of it: livesyncd
-- reads a subscription's snapshot with SELECT livesync.encode_row(r) FROM (...) r, so
-- snapshot rows and streamed rows carry the same typed values (docs/protocol.md).
-- It reveals nothing its caller cannot SELECT: EXECUTE stays granted to PUBLIC.
CREATE FUNCTION livesync.encode_row(item record) RETURNS bytea
AS 'MODULE_PATHNAME', 'livesync_encode_row' LANGUAGE C STABLE STRICT PARALLEL SAFE;
