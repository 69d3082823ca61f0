"""The ledger rollup's writers spread over 16 shards instead of 4 (issue #18).

Every ledger insert of a wallet adds to the wallet's all-time rows (quarter NULL), one per kind
and shard, each held locked until its transaction commits. With 4 shards (txid % 4), run chunks
of one wallet on 4 worker processes met on the same shard in about a third of their commits and
queued there (bench, 1/10 scale: 1.7 s spent in the rollup's upsert during a 2.9 s run); with 16
they rarely do. Readers sum at most 16 rows per (wallet, kind) and quarter. Rows written under
the old rule stay valid: a shard only splits a sum.
"""

from django.db import migrations

QUARTER = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00+00')"


def _insert_function(shards: int) -> str:
    return f"""
CREATE OR REPLACE FUNCTION wallets_ledger_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    writer_shard smallint := txid_current() % {shards};
BEGIN
    INSERT INTO wallets_ledgerrollup AS r (wallet_id, quarter, kind, shard, points, rows)
    WITH quarters AS (
        SELECT wallet_id, {QUARTER} AS quarter, kind, sum(points) AS points, count(*) AS rows
        FROM new_ledger_rows
        GROUP BY 1, 2, 3
    )
    SELECT wallet_id, quarter, kind, writer_shard, points, rows FROM quarters
    UNION ALL
    SELECT wallet_id, NULL, kind, writer_shard, sum(points), sum(rows)::bigint FROM quarters GROUP BY 1, 3
    ORDER BY 1, 2 NULLS FIRST, 3
    ON CONFLICT (wallet_id, quarter, kind, shard) DO UPDATE SET
        points = r.points + EXCLUDED.points,
        rows = r.rows + EXCLUDED.rows;
    RETURN NULL;
END $$;
"""  # noqa: S608 (constants only)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0013_lot_rollup")]

    operations = [migrations.RunSQL(_insert_function(16), _insert_function(4))]
