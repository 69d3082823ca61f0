"""The account-wide models leave config's state for the `accounts` app (accounts 0001), after every
other app's foreign key points there; nothing in the database changes (the tables keep their names)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0005_outbox"),
        ("accounts", "0001_initial"),
        ("promotions", "0018_campaignevent_api_key_to_accounts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="IdempotencyRecord"),
                migrations.DeleteModel(name="ApiKey"),
                migrations.DeleteModel(name="Account"),
                migrations.DeleteModel(name="WorkerHeartbeat"),
                migrations.DeleteModel(name="RateLimitCounter"),
                migrations.DeleteModel(name="Outbox"),
            ],
        ),
    ]
