"""API keys get scopes (existing keys get every scope, as they could do everything); the
idempotency records move here from `wallets` (same table, renamed) with the endpoint they
belong to and the first response's exact bytes."""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

import accounts.models


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0003_rate_limit_counter"),
        ("wallets", "0007_idempotency_record_moves_to_config"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scopes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(choices=accounts.models.ApiScope.choices, max_length=32),
                default=accounts.models.all_scopes,
                size=None,
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("key", models.CharField(max_length=255)),
                        ("fingerprint", models.CharField(max_length=64)),
                        ("response_status", models.PositiveSmallIntegerField()),
                        ("response_body", models.JSONField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "api_key",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="config.apikey"
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "db_table": "wallets_idempotencyrecord",
                        "constraints": [
                            models.UniqueConstraint(fields=("api_key", "key"), name="wallet_idempotency_once_per_key")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="idempotencyrecord", table=None),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="endpoint",
            field=models.CharField(default="wallets.transactions", max_length=64),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_content",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="wallet_idempotency_once_per_key"),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(
                fields=("api_key", "endpoint", "key"), name="idempotency_once_per_key_endpoint"
            ),
        ),
    ]
