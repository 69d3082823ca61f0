"""Lifecycle steps move from flags on the (wide, many-indexed) lot rows to a narrow `LotDue`
table the jobs delete from; the ledger's copies of wallet, profile and campaign lose their
foreign-key checks and the indexes nothing needs (bench/RESULTS.md, Wallets)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Pending steps of existing lots, from the flags about to go.
STEPS_FROM_FLAGS = [
    "INSERT INTO wallets_lotdue (step, due_at, lot_id) "
    "SELECT 'activate', activates_at, id FROM wallets_lot WHERE activated = %s",
    "INSERT INTO wallets_lotdue (step, due_at, lot_id) "
    "SELECT 'expire', expires_at, id FROM wallets_lot WHERE expired = %s AND expires_at IS NOT NULL",
]


def steps_from_flags(apps, schema_editor):
    for sql in STEPS_FROM_FLAGS:
        schema_editor.execute(sql, params=[False])


# Lots are permanent: the ledger refers to them without a checking foreign key (one check per
# ledger row would lock every lot again), so the database itself refuses to delete a lot.
# TRUNCATE (test teardown) is unaffected.
PG_LOT_KEEP = """
CREATE OR REPLACE FUNCTION wallets_lot_permanent() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'wallet lots are permanent (DELETE on wallets_lot)';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER wallets_lot_no_delete BEFORE DELETE ON wallets_lot
    FOR EACH ROW EXECUTE FUNCTION wallets_lot_permanent();
"""
LOT_DELETABLE = [
    "DROP TRIGGER IF EXISTS wallets_lot_no_delete ON wallets_lot",
    "DROP FUNCTION IF EXISTS wallets_lot_permanent()",
]


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0004_beat_dispatch_due_runs"),
        ("segments", "0003_audience"),
        ("wallets", "0005_lean_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LotDue",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "step", "due_at", "lot", blank=True, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("step", models.CharField(choices=[("activate", "Activate"), ("expire", "Expire")], max_length=8)),
                ("due_at", models.DateTimeField()),
                (
                    "lot",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="wallets.lot",
                    ),
                ),
            ],
        ),
        migrations.RunPython(steps_from_flags, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="lot", name="wallet_lot_wallet_profile"),
        migrations.RemoveIndex(model_name="lot", name="wallet_lot_due_activation_key"),
        migrations.RemoveIndex(model_name="lot", name="wallet_lot_due_expiry_key"),
        migrations.RemoveIndex(model_name="transaction", name="wallet_txn_wallet_profile_time"),
        migrations.RemoveField(model_name="lot", name="activated"),
        migrations.RemoveField(model_name="lot", name="expired"),
        migrations.AlterField(
            model_name="transaction",
            name="campaign",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="wallet_transactions",
                to="promotions.campaign",
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="profile",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="wallet_transactions",
                to="segments.profile",
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="wallet",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="transactions",
                to="wallets.wallet",
            ),
        ),
        migrations.AlterField(
            model_name="transaction",
            name="lot",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="transactions",
                to="wallets.lot",
            ),
        ),
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(fields=["profile", "wallet", "-created_at"], name="wallet_txn_profile_wallet_time"),
        ),
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("kind__in", ["CREDIT", "SCHEDULED"])), fields=["lot"], name="wallet_txn_credit_lot"
            ),
        ),
        migrations.RunSQL([PG_LOT_KEEP], LOT_DELETABLE),
    ]
