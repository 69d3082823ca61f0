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


FORWARDS = [PG_FUNCTION] + [
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION wallets_ledger_append_only()"
    for table in TABLES
]
BACKWARDS = [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in TABLES] + [
    "DROP FUNCTION IF EXISTS wallets_ledger_append_only()"
]


class Migration(migrations.Migration):
    dependencies = [("wallets", "0002_lots_ledger")]

    operations = [migrations.RunSQL(FORWARDS, BACKWARDS)]
