-- livesync 0.2 -> 0.3: the sync config is bound to columns, not to their names.
--
-- Every config row (livesync.tables, livesync.rules) records, in column_refs, the
-- attribute number and type of each column it names (published columns, tenant column,
-- grant columns, the columns its filter reads), kept by a trigger whenever the row is
-- written. At the end of every ALTER TABLE of a published table the DDL guard compares
-- them with the table as the command left it, in the same transaction, so the change
-- travels the stream at the DDL's own LSN:
--  - a renamed column keeps its place under its new name in every list and filter;
--  - a dropped column leaves every list (a filter or tenant column that is dropped or
--    changes type disables its grant or publication, below);
--  - a column added later is in no list (a NULL list still means every column).
-- A grant whose filter lost its column or type, and a publication whose tenant column
-- was dropped, are disabled (column disabled says why, with a WARNING): they deny from
-- that LSN, and livesyncd ends their subscriptions with unsubscribed, reason
-- schema_changed. A grant or publish of the table again enables them.

-- Altering livesync's own tables must not stop on a user table the guard would refuse
-- (say, one that lost its replica identity under 0.1): the guard is off for this script.
ALTER EVENT TRIGGER livesync_guard_published_tables DISABLE;
ALTER TABLE livesync.tables ADD COLUMN column_refs jsonb, ADD COLUMN disabled text;
ALTER TABLE livesync.rules ADD COLUMN column_refs jsonb, ADD COLUMN disabled text;

-- {name: [attnum, type oid]} for each of names that is a live column of target.
CREATE FUNCTION livesync.column_refs(target oid, names text[]) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(jsonb_object_agg(a.attname, jsonb_build_array(a.attnum, a.atttypid::int8)), '{}'::jsonb)
      FROM pg_attribute a
     WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY (names)
$$;

CREATE FUNCTION livesync.bind_columns() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_TABLE_NAME = 'tables' THEN
        NEW.column_refs := livesync.column_refs(NEW.relid, coalesce(NEW.columns, '{}') || NEW.tenant_column);
    ELSE
        NEW.column_refs := livesync.column_refs(NEW.relid, coalesce(NEW.columns, '{}') ||
            ARRAY(SELECT f #>> '{}' FROM jsonb_path_query(NEW.filter_tree::jsonb, 'lax $.**.col') AS f));
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER livesync_bind_columns BEFORE INSERT OR UPDATE ON livesync.tables
    FOR EACH ROW EXECUTE FUNCTION livesync.bind_columns();
CREATE TRIGGER livesync_bind_columns BEFORE INSERT OR UPDATE ON livesync.rules
    FOR EACH ROW EXECUTE FUNCTION livesync.bind_columns();
UPDATE livesync.tables SET column_refs = NULL;
UPDATE livesync.rules SET column_refs = NULL;

-- Replaces every {"col": old} of a filter tree with {"col": new}.
CREATE FUNCTION livesync.rename_filter_column(tree jsonb, old text, new text) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $$
    SELECT CASE jsonb_typeof(tree)
        WHEN 'object' THEN (SELECT coalesce(jsonb_object_agg(k, CASE WHEN k = 'col' AND v = to_jsonb(old) THEN to_jsonb(new)
                                                                     ELSE livesync.rename_filter_column(v, old, new) END),
                                            '{}'::jsonb)
                              FROM jsonb_each(tree) AS e(k, v))
        WHEN 'array' THEN (SELECT coalesce(jsonb_agg(livesync.rename_filter_column(v, old, new) ORDER BY n), '[]'::jsonb)
                             FROM jsonb_array_elements(tree) WITH ORDINALITY AS e(v, n))
        ELSE tree END
$$;

-- Brings the config rows of one published table in line with its columns as they are
-- now (see the top of this file). Called by the DDL guard.
CREATE FUNCTION livesync.follow_columns(target oid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
    ref record;
    now_name text;
    now_type oid;
    cols text[];
    tenant text;
    tree jsonb;
    why text;
BEGIN
    FOR r IN SELECT * FROM livesync.tables l WHERE l.relid = target AND l.disabled IS NULL LOOP
        cols := r.columns;
        tenant := r.tenant_column;
        why := NULL;
        FOR ref IN SELECT key AS name, (value ->> 0)::int2 AS attnum FROM jsonb_each(coalesce(r.column_refs, '{}')) LOOP
            SELECT a.attname INTO now_name FROM pg_attribute a
             WHERE a.attrelid = target AND a.attnum = ref.attnum AND NOT a.attisdropped;
            IF now_name IS NULL THEN
                cols := array_remove(cols, ref.name);
                IF ref.name = tenant THEN
                    why := format('its tenant column %s was dropped', quote_ident(ref.name));
                END IF;
            ELSIF now_name <> ref.name THEN
                cols := array_replace(cols, ref.name, now_name);
                IF ref.name = tenant THEN
                    tenant := now_name;
                END IF;
            END IF;
        END LOOP;
        IF cols IS NOT NULL THEN
            cols := ARRAY(SELECT DISTINCT c FROM unnest(cols) AS c ORDER BY c);
        END IF;
        IF why IS NOT NULL THEN
            RAISE WARNING 'livesync: the publication of % is disabled: %', target::regclass, why
                USING HINT = 'Its clients see nothing of it until it is published again with livesync.publish().';
            UPDATE livesync.tables l SET disabled = why WHERE l.relid = target;
        ELSIF cols IS DISTINCT FROM r.columns OR tenant IS DISTINCT FROM r.tenant_column THEN
            UPDATE livesync.tables l SET columns = cols, tenant_column = tenant WHERE l.relid = target;
        END IF;
    END LOOP;
    FOR r IN SELECT * FROM livesync.rules g WHERE g.relid = target AND g.disabled IS NULL LOOP
        cols := r.columns;
        tree := r.filter_tree::jsonb;
        why := NULL;
        FOR ref IN SELECT key AS name, (value ->> 0)::int2 AS attnum, (value ->> 1)::oid AS typid
                     FROM jsonb_each(coalesce(r.column_refs, '{}')) LOOP
            now_name := NULL;
            SELECT a.attname, a.atttypid INTO now_name, now_type FROM pg_attribute a
             WHERE a.attrelid = target AND a.attnum = ref.attnum AND NOT a.attisdropped;
            IF now_name IS NULL THEN
                cols := array_remove(cols, ref.name);
                IF jsonb_path_exists(tree, 'lax $.**.col ? (@ == $c)', jsonb_build_object('c', ref.name)) THEN
                    why := format('its filter reads column %s, which was dropped', quote_ident(ref.name));
                END IF;
            ELSE
                IF now_type <> ref.typid
                   AND jsonb_path_exists(tree, 'lax $.**.col ? (@ == $c)', jsonb_build_object('c', ref.name)) THEN
                    why := format('its filter reads column %s, whose type changed', quote_ident(ref.name));
                END IF;
                IF now_name <> ref.name THEN
                    cols := array_replace(cols, ref.name, now_name);
                    tree := livesync.rename_filter_column(tree, ref.name, now_name);
                END IF;
            END IF;
        END LOOP;
        IF why IS NOT NULL THEN
            RAISE WARNING 'livesync: the grant of % to role % is disabled: %', target::regclass, r.role_name, why
                USING HINT = 'Its clients see nothing of the table until it is granted again with livesync.grant().';
            UPDATE livesync.rules g SET disabled = why WHERE g.relid = target AND g.role_name = r.role_name;
        ELSIF cols IS DISTINCT FROM r.columns OR tree IS DISTINCT FROM r.filter_tree::jsonb THEN
            UPDATE livesync.rules g SET columns = cols, filter_tree = tree::text
             WHERE g.relid = target AND g.role_name = r.role_name;
        END IF;
    END LOOP;
END
$$;

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

    SELECT t.columns, t.tenant_column, t.disabled INTO previous FROM livesync.tables t WHERE t.relid = target;
    IF FOUND THEN
        IF previous.columns IS NOT DISTINCT FROM columns AND previous.tenant_column IS NOT DISTINCT FROM tenant_column
           AND previous.disabled IS NULL THEN
            RETURN false;
        END IF;
        -- (ON CONFLICT is not allowed on a user_catalog_table.) Publishing again also
        -- enables a publication a schema change disabled.
        UPDATE livesync.tables t SET columns = publish.columns, tenant_column = publish.tenant_column, disabled = NULL
         WHERE t.relid = target;
        RETURN true;
    END IF;
    INSERT INTO livesync.tables (relid, schema_name, table_name, tenant_column, columns)
    VALUES (rel.oid, rel.nspname, rel.relname, tenant_column, columns);
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION livesync.guard_published_tables() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    t record;
    gap text;
    named text;
    altered oid;
BEGIN
    -- First the config follows its columns (renamed, dropped, retyped), in this transaction.
    PERFORM livesync.follow_columns(l.relid) FROM livesync.tables l;
    FOR t IN SELECT l.relid, l.relid::regclass AS target, l.tenant_column, l.columns, l.schema_name, l.table_name,
                    n.nspname::text AS now_schema, c.relname::text AS now_table
               FROM livesync.tables l JOIN pg_class c ON c.oid = l.relid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE l.disabled IS NULL
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
            SELECT c FROM livesync.rules r, unnest(r.columns) AS c WHERE r.relid = t.relid AND r.disabled IS NULL
            UNION
            SELECT f #>> '{}' FROM livesync.rules r, jsonb_path_query(r.filter_tree::jsonb, 'lax $.**.col') AS f
             WHERE r.relid = t.relid AND r.disabled IS NULL
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

REVOKE ALL ON FUNCTION livesync.column_refs(oid, text[]), livesync.bind_columns(),
    livesync.rename_filter_column(jsonb, text, text), livesync.follow_columns(oid) FROM PUBLIC;
ALTER EVENT TRIGGER livesync_guard_published_tables ENABLE;

-- One row as the msgpack map the output plugin packs for an insert of it: livesyncd
-- reads a subscription's snapshot with SELECT livesync.encode_row(r) FROM (...) r, so
-- snapshot rows and streamed rows carry the same typed values (docs/protocol.md).
-- It reveals nothing its caller cannot SELECT: EXECUTE stays granted to PUBLIC.
CREATE FUNCTION livesync.encode_row(item record) RETURNS bytea
AS 'MODULE_PATHNAME', 'livesync_encode_row' LANGUAGE C STABLE STRICT PARALLEL SAFE;
