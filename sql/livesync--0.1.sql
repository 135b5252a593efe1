-- livesync 0.1: sync configuration as data, and the SQL API over it.
\echo Use "CREATE EXTENSION livesync" to load this file. \quit

-- Published tables. A user_catalog_table, so the output plugin reads it with the
-- decoding snapshot: a publish or unpublish takes effect at its exact commit LSN, and
-- its rows travel in the change stream (REPLICA IDENTITY FULL: a delete names the table).
CREATE TABLE livesync.tables (
    relid         oid PRIMARY KEY,
    schema_name   text NOT NULL,
    table_name    text NOT NULL,
    tenant_column text,
    columns       text[],
    published_at  timestamptz NOT NULL DEFAULT now()
) WITH (user_catalog_table = true);
ALTER TABLE livesync.tables REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('livesync.tables', '');

-- Checks a column list argument: NULL (all columns) or a non-empty list of live
-- columns of the table; raises an error naming the caller and the bad entry.
CREATE FUNCTION livesync.check_columns(caller text, target regclass, columns text[]) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    missing text;
BEGIN
    IF columns IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(columns) = 0 THEN
        RAISE EXCEPTION '%: columns must name at least one column (NULL means all)', caller
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c INTO missing FROM unnest(columns) AS c
     WHERE c IS NULL OR NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = target
                                      AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '%: % has no column %', caller, target, coalesce(quote_ident(missing), 'NULL')
            USING ERRCODE = 'undefined_column';
    END IF;
END
$$;

-- The columns that identify a row in its old tuple (NULL: none; every column under
-- REPLICA IDENTITY FULL, reported as the string 'full' in full_identity).
CREATE FUNCTION livesync.identity_columns(target regclass, OUT columns text[], OUT full_identity boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT (SELECT array_agg(a.attname::text ORDER BY a.attnum)
              FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
             WHERE i.indrelid = c.oid
               AND CASE c.relreplident WHEN 'i' THEN i.indisreplident WHEN 'd' THEN i.indisprimary ELSE false END),
           c.relreplident = 'f'
      FROM pg_class c WHERE c.oid = target
$$;

CREATE FUNCTION livesync.publish(target regclass, columns text[] DEFAULT NULL, tenant_column text DEFAULT NULL)
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
    IF rel.relreplident = 'n' OR (rel.relreplident IN ('d', 'i') AND identity_columns IS NULL) THEN
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
        IF rel.relreplident <> 'f' AND NOT tenant_column = ANY (identity_columns) THEN
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
COMMENT ON FUNCTION livesync.publish(regclass, text[], text) IS
    'Stream the table''s committed changes (only the listed columns, if given; tenant_column isolates tenants); '
    'false if it already was published exactly so.';

CREATE FUNCTION livesync.unpublish(target regclass) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    IF target IS NULL THEN
        RAISE EXCEPTION 'livesync.unpublish: the table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM livesync.tables WHERE relid = target;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- Its access rules go with it: publishing it again starts from default deny.
    DELETE FROM livesync.rules WHERE relid = target;
    RETURN true;
END
$$;
COMMENT ON FUNCTION livesync.unpublish(regclass) IS
    'Stop streaming the table''s changes; false if it was not published.';

CREATE VIEW livesync.published_tables AS
    SELECT relid::regclass AS "table", columns, tenant_column, published_at
      FROM livesync.tables ORDER BY schema_name, table_name;

CREATE FUNCTION livesync.worker_state(
    OUT pid integer, OUT redis_connected boolean, OUT slot_connected boolean,
    OUT published_lsn pg_lsn, OUT confirmed_lsn pg_lsn, OUT last_commit_time timestamptz,
    OUT batches_published bigint, OUT changes_published bigint, OUT bytes_published bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'livesync_worker_state' LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION livesync.status(
    OUT slot_name text, OUT slot_exists boolean, OUT worker_pid integer,
    OUT redis_connected boolean, OUT published_lsn pg_lsn, OUT confirmed_flush_lsn pg_lsn,
    OUT lag_bytes numeric, OUT lag_seconds double precision,
    OUT batches_published bigint, OUT changes_published bigint, OUT bytes_published bigint)
RETURNS record LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT current_setting('livesync.slot_name'),
           s.slot_name IS NOT NULL,
           NULLIF(w.pid, 0),
           w.redis_connected,
           NULLIF(w.published_lsn, '0/0'),
           s.confirmed_flush_lsn,
           pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn),
           CASE WHEN s.confirmed_flush_lsn IS NULL THEN NULL
                WHEN pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn) <= 0 THEN 0
                WHEN w.last_commit_time IS NULL THEN NULL
                ELSE extract(epoch FROM clock_timestamp() - w.last_commit_time)::float8 END,
           w.batches_published, w.changes_published, w.bytes_published
      FROM livesync.worker_state() w
      LEFT JOIN pg_replication_slots s ON s.slot_name = current_setting('livesync.slot_name')
$$;
COMMENT ON FUNCTION livesync.status() IS
    'The replicator: its slot, how far Redis has the stream, lag, and whether Redis is reachable.';

REVOKE ALL ON FUNCTION livesync.publish(regclass, text[], text), livesync.unpublish(regclass),
    livesync.check_columns(text, regclass, text[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Access rules: which role may see which rows and columns of a published table.
-- Default is deny: a client sees a table only through a rule for its role.

-- The claims of the client a filter is evaluated for. livesyncd evaluates compiled
-- filters itself; in SQL, set livesync.claims (a JSON object) to evaluate the same
-- filter in Postgres, e.g. to check a rule by hand.
CREATE FUNCTION livesync.claim(name text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT NULLIF(current_setting('livesync.claims', true), '')::jsonb ->> name
$$;
COMMENT ON FUNCTION livesync.claim(text) IS
    'A claim of the client''s token, as text (NULL when absent); use it in livesync.grant filters.';

CREATE FUNCTION livesync.compile_filter(target regclass, filter text) RETURNS text
AS 'MODULE_PATHNAME', 'livesync_compile_filter' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION livesync.compile_filter(regclass, text) IS
    'The filter tree (JSON) livesyncd evaluates for a SQL row filter; errors name what is unsupported.';

CREATE TABLE livesync.rules (
    role_name    text NOT NULL,
    relid        oid NOT NULL,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    filter       text NOT NULL,
    filter_tree  text NOT NULL,
    columns      text[],
    granted_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_name, relid)
) WITH (user_catalog_table = true);
ALTER TABLE livesync.rules REPLICA IDENTITY FULL;
SELECT pg_catalog.pg_extension_config_dump('livesync.rules', '');

CREATE FUNCTION livesync.grant(role text, target regclass, filter text DEFAULT 'true', columns text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
DECLARE
    tree text;
    missing text;
    rel record;
    published_columns text[];
    identity record;
BEGIN
    IF role IS NULL OR btrim(role) = '' THEN
        RAISE EXCEPTION 'livesync.grant: role must be a non-empty name' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF target IS NULL OR filter IS NULL THEN
        RAISE EXCEPTION 'livesync.grant: table and filter must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT t.relid, t.schema_name, t.table_name INTO rel FROM livesync.tables t WHERE t.relid = target;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'livesync.grant: % is not published', target
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run SELECT livesync.publish(%L) first.', target::text);
    END IF;
    PERFORM livesync.check_columns('livesync.grant', target, columns);
    tree := livesync.compile_filter(target, filter);
    -- livesyncd sees only published columns, and a delete only the identity columns
    -- (every column under REPLICA IDENTITY FULL): the filter must read no other column,
    -- or deletes could not be routed and would leak or be lost.
    SELECT t.columns INTO published_columns FROM livesync.tables t WHERE t.relid = target;
    SELECT * INTO identity FROM livesync.identity_columns(target);
    FOR missing IN
        SELECT DISTINCT c #>> '{}' FROM jsonb_path_query(tree::jsonb, 'lax $.**.col') AS c
    LOOP
        IF published_columns IS NOT NULL AND NOT missing = ANY (published_columns) THEN
            RAISE EXCEPTION 'livesync.grant: the filter reads column %, which % does not publish', quote_ident(missing), target
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT identity.full_identity AND NOT missing = ANY (coalesce(identity.columns, '{}')) THEN
            RAISE EXCEPTION 'livesync.grant: the filter reads column %, which deletes from % do not carry', quote_ident(missing), target
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = format('Run ALTER TABLE %s REPLICA IDENTITY FULL so deletes carry the whole row.', target);
        END IF;
    END LOOP;
    IF columns IS NOT NULL AND published_columns IS NOT NULL THEN
        SELECT c INTO missing FROM unnest(columns) AS c WHERE NOT c = ANY (published_columns) LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'livesync.grant: column % of % is not published', quote_ident(missing), target
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    DELETE FROM livesync.rules r WHERE r.role_name = role AND r.relid = target;
    INSERT INTO livesync.rules (role_name, relid, schema_name, table_name, filter, filter_tree, columns)
    VALUES (role, target, rel.schema_name, rel.table_name, filter, tree, columns);
END
$$;
COMMENT ON FUNCTION livesync.grant(text, regclass, text, text[]) IS
    'Let clients with this role claim see the rows of the table that pass the filter, and only the listed columns.';

CREATE FUNCTION livesync.revoke(role text, target regclass) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    IF role IS NULL OR target IS NULL THEN
        RAISE EXCEPTION 'livesync.revoke: role and table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM livesync.rules r WHERE r.role_name = role AND r.relid = target;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION livesync.revoke(text, regclass) IS 'Remove the role''s rule for the table; false if it had none.';

REVOKE ALL ON FUNCTION livesync.grant(text, regclass, text, text[]), livesync.revoke(text, regclass),
    livesync.compile_filter(regclass, text) FROM PUBLIC;

-- Transactional server -> client messages: a logical message in the caller's transaction,
-- decoded in its place among the data changes (op "m"), so a client sees it exactly when
-- it sees the rows committed with it, and never when the transaction rolls back.
CREATE FUNCTION livesync.notify(channel text, payload jsonb) RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog AS $$
BEGIN
    IF channel IS NULL OR channel = '' THEN
        RAISE EXCEPTION 'livesync.notify: the channel must be a non-empty text' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN pg_logical_emit_message(true, 'livesync',
        convert_to(channel, 'UTF8') || '\x00'::bytea || convert_to(coalesce(payload, 'null'::jsonb)::text, 'UTF8'));
END
$$;
COMMENT ON FUNCTION livesync.notify(text, jsonb) IS
    'Send payload to the clients listening on channel when (and only if) this transaction commits.';
REVOKE ALL ON FUNCTION livesync.notify(text, jsonb) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The client registry (kept in Redis by the sidecars), from SQL.

CREATE FUNCTION livesync.clients(
    OUT client_id text, OUT sidecar text, OUT user_id text, OUT tenant text, OUT role text,
    OUT address text, OUT connected_at timestamptz, OUT last_activity timestamptz, OUT subscriptions jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'livesync_clients' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION livesync.clients() IS 'Connected clients as registered in Redis by the sidecars.';

CREATE FUNCTION livesync.kick(client_id text) RETURNS boolean
AS 'MODULE_PATHNAME', 'livesync_kick' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION livesync.kick(text) IS
    'Ask the sidecar holding the client to close its session (through the {livesync}:control stream); '
    'true if the client was registered.';

CREATE FUNCTION livesync.activity_report(since timestamptz,
    OUT user_id text, OUT tenant text, OUT sessions bigint, OUT messages_in bigint, OUT messages_out bigint,
    OUT last_seen timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'livesync_activity_report' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION livesync.activity_report(timestamptz) IS
    'Per user (anonymous:<address> for anonymous sessions), across all sidecars: sessions opened, '
    'messages in and out (totals over the activity retention), last seen; users seen since the given time.';

REVOKE ALL ON FUNCTION livesync.clients(), livesync.kick(text), livesync.activity_report(timestamptz) FROM PUBLIC;
