-- livesync 0.3 -> 0.4: what livesyncd reads a subscription snapshot with.

-- A table's rows, a page of up to page_rows rows and about 64 KiB per result row: each
-- page is the rows' msgpack {column: value} maps back to back, packed as
-- livesync.encode_row packs one (the output plugin's encoder: the typed values an insert
-- of the row carries). It runs SELECT <columns> FROM tbl [WHERE <tenant_column>::text =
-- tenant] as its caller (the caller's privileges, row-level security and snapshot
-- apply), at the pace its result is consumed. livesyncd streams it with COPY (SELECT
-- livesync.snapshot_pages(...)) TO STDOUT (FORMAT binary) at its client's pace. It
-- reveals nothing its caller cannot SELECT: EXECUTE stays granted to PUBLIC.
CREATE FUNCTION livesync.snapshot_pages(tbl regclass, columns text[], tenant_column text, tenant text,
                                        page_rows integer)
RETURNS SETOF bytea
AS 'MODULE_PATHNAME', 'livesync_snapshot_pages' LANGUAGE C VOLATILE PARALLEL UNSAFE ROWS 100;

-- The sync config as the caller's snapshot sees it, as the fields the replicator writes
-- to Redis ("t:<schema>.<table>" -> the table's scope, "r:<role>|<schema>.<table>" -> the
-- rule; docs/operations.md): livesyncd reads it in the REPEATABLE READ transaction of a
-- snapshot, so the rows are judged by the rules in force at the snapshot, not by the
-- rules of the moment they are sent (docs/architecture.md). SECURITY DEFINER so that the
-- snapshot role needs no access to livesync.tables and livesync.rules; EXECUTE is granted
-- to no one by default (the config names roles and filters): grant it to livesyncd's
-- snapshot role.
CREATE FUNCTION livesync.sync_config(OUT field text, OUT value text)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 't:' || schema_name || '.' || table_name,
           (json_build_object('schema', schema_name, 'table', table_name, 'tenant_column', tenant_column,
                              'columns', columns)::jsonb ||
            jsonb_strip_nulls(jsonb_build_object('disabled', to_jsonb(t) -> 'disabled')))::text
      FROM livesync.tables t
    UNION ALL
    SELECT 'r:' || role_name || '|' || schema_name || '.' || table_name,
           (json_build_object('role', role_name, 'schema', schema_name, 'table', table_name,
                              'filter', filter_tree::json, 'columns', columns)::jsonb ||
            jsonb_strip_nulls(jsonb_build_object('disabled', to_jsonb(r) -> 'disabled')))::text
      FROM livesync.rules r
$$;
REVOKE ALL ON FUNCTION livesync.sync_config() FROM PUBLIC;
