"""The lots of each (campaign, wallet, activates_at, expires_at), summed by PostgreSQL in the
writing transaction (issue #18): a campaign page reads a few hundred rollup rows instead of
aggregating its million lots.

- `wallets_lot_rollup`: AFTER INSERT / UPDATE / DELETE on wallets_lot, once per statement, from
  its transition tables: the statement's change per key (new rows added, old rows subtracted;
  an UPDATE that changes no summed column or key, such as a lock, changes nothing), upserted in
  key order (so two statements never lock rollup rows in opposite orders). `ON CONFLICT DO
  UPDATE` adds to the committed row, so concurrent transactions are all counted.
- What changes lots: credits insert them (a bulk chunk or a live batch shares one lifecycle,
  so one aggregate and one upsert per statement); a debit lowers `remaining` (one statement
  per debit, movements.py); the lifecycle jobs only lock lots (FOR NO KEY UPDATE fires no
  trigger). Lots cannot be deleted (0006 refuses it), but `session_replication_role = replica`
  silences that refusal, so a DELETE is subtracted all the same.
- Each key is split into SHARDS rows (txid % SHARDS), as in promotions 0010: an upserted row
  stays locked until its transaction commits. Readers sum the shards.
- `ENABLE ALWAYS`: the bulk credit runs with `session_replication_role = replica` (core/db.py),
  which silences ordinary triggers; this one must fire all the same.

`wallets_lot_rollup_rebuild()` recounts every lot (the backfill at the end; also the repair
after anything wrote lots with the trigger disabled).
"""

import django.db.models.deletion
from django.db import migrations, models

SHARDS = 4

_KEY = "campaign_id, wallet_id, activates_at, expires_at"
_COLUMNS = f"({_KEY}, shard, lots, amount, remaining)"
_UPSERT = """
    ON CONFLICT (campaign_id, wallet_id, activates_at, expires_at, shard) DO UPDATE SET
        lots = r.lots + EXCLUDED.lots,
        amount = r.amount + EXCLUDED.amount,
        remaining = r.remaining + EXCLUDED.remaining"""


def _delta(rows: str) -> str:
    """The change per key of the lots in `rows` (lots, amount, remaining: signed)."""
    return f"""
    INSERT INTO wallets_lotrollup AS r {_COLUMNS}
    SELECT {_KEY}, writer_shard, sum(lots), sum(amount), sum(remaining)
    FROM ({rows}) AS d
    GROUP BY {_KEY}
    HAVING sum(lots) <> 0 OR sum(amount) <> 0 OR sum(remaining) <> 0
    ORDER BY {_KEY}
    {_UPSERT};"""  # noqa: S608 (constants only)


_ADDED = f"SELECT {_KEY}, 1 AS lots, amount, remaining FROM new_lots"  # noqa: S608 (constants only)
_REMOVED = f"SELECT {_KEY}, -1 AS lots, -amount AS amount, -remaining AS remaining FROM old_lots"  # noqa: S608

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION wallets_lot_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    writer_shard smallint := txid_current() % {SHARDS};
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- The common case, a credit: no subtraction, no HAVING (every lot counts).
        INSERT INTO wallets_lotrollup AS r {_COLUMNS}
        SELECT {_KEY}, writer_shard, count(*), sum(amount), sum(remaining)
        FROM new_lots
        GROUP BY {_KEY}
        ORDER BY {_KEY}
        {_UPSERT};
    ELSIF TG_OP = 'UPDATE' THEN
        {_delta(f"{_ADDED} UNION ALL {_REMOVED}")}
    ELSE
        {_delta(_REMOVED)}
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION wallets_lot_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Holds the triggers' upserts off until this transaction ends (a writer already past its
    -- upsert holds a conflicting lock, so this waits for it to commit); the statements below
    -- then read with a fresh snapshot that includes every lot committed before the lock.
    LOCK TABLE wallets_lotrollup IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM wallets_lotrollup;
    INSERT INTO wallets_lotrollup {_COLUMNS}
    SELECT {_KEY}, 0, count(*), sum(amount), sum(remaining)
    FROM wallets_lot
    GROUP BY {_KEY};
END $$;
"""  # noqa: S608 (constants only)

TRIGGERS = """
CREATE TRIGGER wallets_lot_rollup_insert AFTER INSERT ON wallets_lot
    REFERENCING NEW TABLE AS new_lots FOR EACH STATEMENT EXECUTE FUNCTION wallets_lot_rollup();
CREATE TRIGGER wallets_lot_rollup_update AFTER UPDATE ON wallets_lot
    REFERENCING OLD TABLE AS old_lots NEW TABLE AS new_lots FOR EACH STATEMENT EXECUTE FUNCTION wallets_lot_rollup();
CREATE TRIGGER wallets_lot_rollup_delete AFTER DELETE ON wallets_lot
    REFERENCING OLD TABLE AS old_lots FOR EACH STATEMENT EXECUTE FUNCTION wallets_lot_rollup();
ALTER TABLE wallets_lot ENABLE ALWAYS TRIGGER wallets_lot_rollup_insert;
ALTER TABLE wallets_lot ENABLE ALWAYS TRIGGER wallets_lot_rollup_update;
ALTER TABLE wallets_lot ENABLE ALWAYS TRIGGER wallets_lot_rollup_delete;
"""

DROP = """
DROP TRIGGER IF EXISTS wallets_lot_rollup_insert ON wallets_lot;
DROP TRIGGER IF EXISTS wallets_lot_rollup_update ON wallets_lot;
DROP TRIGGER IF EXISTS wallets_lot_rollup_delete ON wallets_lot;
DROP FUNCTION IF EXISTS wallets_lot_rollup_rebuild();
DROP FUNCTION IF EXISTS wallets_lot_rollup();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0004_beat_dispatch_due_runs"),
        ("wallets", "0012_manual_adjustments_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="LotRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("activates_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField(null=True)),
                ("shard", models.SmallIntegerField()),
                ("lots", models.BigIntegerField()),
                ("amount", models.DecimalField(decimal_places=3, max_digits=30)),
                ("remaining", models.DecimalField(decimal_places=3, max_digits=30)),
                (
                    "campaign",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="promotions.campaign",
                    ),
                ),
                (
                    "wallet",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="wallets.wallet",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("campaign", "wallet", "activates_at", "expires_at", "shard"),
                        name="wallet_lot_rollup_once",
                        nulls_distinct=False,
                    )
                ],
            },
        ),
        migrations.RunSQL(FUNCTIONS + TRIGGERS, DROP),
        migrations.RunSQL("SELECT wallets_lot_rollup_rebuild()", migrations.RunSQL.noop),
    ]
