"""The decode benchmarks' one workload: `rows` inserts in transactions of 1,000 rows,
then one UPDATE of half the rows and one DELETE of the other half."""

TABLE_DDL = ("CREATE TABLE bench (id int PRIMARY KEY, n bigint, f float8, label text, at timestamptz, "
             "doc jsonb, flag boolean)")


def write_workload(pg, rows, per_txn=1000):
    """Writes the workload into table bench; returns the number of row changes."""
    for start in range(1, rows + 1, per_txn):
        end = min(start + per_txn - 1, rows)
        pg.psql(f"INSERT INTO bench SELECT g, g * 7, g / 3.0, 'label ' || g, "
                f"'2026-01-01'::timestamptz + g * interval '1 second', "
                f"jsonb_build_object('g', g, 'tags', jsonb_build_array('a', 'b')), g % 2 = 0 "
                f"FROM generate_series({start}, {end}) g")
    pg.psql(f"UPDATE bench SET n = n + 1, label = label || '!' WHERE id <= {rows // 2}")
    pg.psql(f"DELETE FROM bench WHERE id > {rows - rows // 2}")
    return rows + rows // 2 + rows // 2
