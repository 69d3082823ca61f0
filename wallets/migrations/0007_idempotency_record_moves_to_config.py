"""The API's idempotency records move to `config` (accounts/idempotency.py), so every app's
endpoints can use them; the table is renamed by config's migration, no row is copied."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0006_lot_lifecycle_steps"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="IdempotencyRecord")],
            database_operations=[],
        ),
    ]
