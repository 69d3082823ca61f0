"""The ledger's rollup (issue #18), kept by PostgreSQL in the inserting transaction.

- `wallets_ledger_rollup_insert`: AFTER INSERT on wallets_transaction, once per statement, from
  its transition table: one aggregate over the inserted rows and one upsert per (wallet, UTC
  quarter hour, kind) they touch, plus one per (wallet, kind) into the all-time row (quarter
  NULL: the wallet page's totals read these, a few rows however long the wallet has lived), in
  key order (so two statements never lock rollup rows in opposite orders). A bulk credit
  statement (thousands of rows, one created_at) costs one aggregate and two upserted rows,
  nothing per row. `ON CONFLICT DO UPDATE` adds to the committed row, so concurrent
  transactions are all counted.
- Each key is split into SHARDS rows (txid % SHARDS): an upserted row stays locked until its
  transaction commits, and one row per (wallet, quarter, kind) would serialise parallel chunks
  crediting one wallet on it. Readers sum the shards.
- Insert only: the ledger is append-only (migration 0003's trigger refuses UPDATE and DELETE),
  so no row ever leaves or changes a sum. TRUNCATE (test teardown) empties the rollup too, as a
  Django model's table. `wallets_ledger_rollup_rebuild(wallet_ids)` recounts from the ledger
  should the two ever be loaded apart (a restore of one table).
- `ENABLE ALWAYS`: bulk inserts may run with `session_replication_role = replica` (core/db.py),
  which silences ordinary triggers; this one must fire all the same.

The backfill at the end reads the ledger once: at the bench's scale (millions of rows), seconds,
inside this migration.
"""

import django.db.models.deletion
from django.db import migrations, models

SHARDS = 4
QUARTER = "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00+00')"

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION wallets_ledger_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    writer_shard smallint := txid_current() % {SHARDS};
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

-- Recount the given wallets (NULL: all) from their ledger rows.
CREATE OR REPLACE FUNCTION wallets_ledger_rollup_rebuild(wallet_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- Holds concurrent inserts' upserts off until this transaction ends; each statement below
    -- then reads with a fresh snapshot that includes every row committed before the lock.
    LOCK TABLE wallets_ledgerrollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM wallets_ledgerrollup WHERE wallet_ids IS NULL OR wallet_id = ANY(wallet_ids);
    INSERT INTO wallets_ledgerrollup (wallet_id, quarter, kind, shard, points, rows)
    SELECT wallet_id, {QUARTER}, kind, 0, sum(points), count(*)
    FROM wallets_transaction
    WHERE wallet_ids IS NULL OR wallet_id = ANY(wallet_ids)
    GROUP BY GROUPING SETS ((wallet_id, {QUARTER}, kind), (wallet_id, kind));
END $$;
"""  # noqa: S608 (constants only)

TRIGGERS = """
CREATE TRIGGER ledger_rollup_insert AFTER INSERT ON wallets_transaction
    REFERENCING NEW TABLE AS new_ledger_rows FOR EACH STATEMENT EXECUTE FUNCTION wallets_ledger_rollup_insert();
ALTER TABLE wallets_transaction ENABLE ALWAYS TRIGGER ledger_rollup_insert;
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_rollup_insert ON wallets_transaction;
DROP FUNCTION IF EXISTS wallets_ledger_rollup_rebuild(bigint[]);
DROP FUNCTION IF EXISTS wallets_ledger_rollup_insert();
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0010_one_step_per_lot_lean_ledger")]

    operations = [
        migrations.CreateModel(
            name="LedgerRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("quarter", models.DateTimeField(blank=True, null=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("CREDIT", "Credit"),
                            ("DEBIT", "Debit"),
                            ("SCHEDULED", "Scheduled"),
                            ("ACTIVATED", "Activated"),
                            ("EXPIRED", "Expired"),
                        ],
                        max_length=10,
                    ),
                ),
                ("shard", models.SmallIntegerField(default=0)),
                ("points", models.DecimalField(decimal_places=3, max_digits=30)),
                ("rows", models.BigIntegerField()),
                (
                    "wallet",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="wallets.wallet",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("wallet", "quarter", "kind", "shard"),
                        name="wallet_ledger_rollup_once",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.RunSQL(FUNCTIONS + TRIGGERS, DROP),
        migrations.RunSQL("SELECT wallets_ledger_rollup_rebuild(NULL)", migrations.RunSQL.noop),
    ]
