"""The ledger is append-only: the database refuses UPDATE and DELETE on transactions and
consumptions, whatever code (or admin) tries. TRUNCATE (test teardown) is unaffected."""

from django.db import migrations

TABLES = ["wallets_transaction", "wallets_consumption"]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION wallets_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the wallet ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION wallets_ledger_append_only()"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the wallet ledger is append-only'); END"
                )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS wallets_ledger_append_only()")
    elif vendor == "sqlite":
        for table in TABLES:
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")


class Migration(migrations.Migration):
    dependencies = [("wallets", "0002_lots_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
