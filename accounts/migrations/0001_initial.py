"""The account-wide models move here from `config` (issue 22) without a row moving: the state is
created here and deleted from config in config 0006, the tables keep their names (`db_table`).
Their content types follow (app label config → accounts), so permissions and admin log entries do."""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import accounts.models

MODELS = ["account", "apikey", "idempotencyrecord", "workerheartbeat", "ratelimitcounter", "outbox"]


def _content_types_relabel(apps, source: str, target: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not content_type.objects.filter(app_label=target, model=model).exists():
            content_type.objects.filter(app_label=source, model=model).update(app_label=target)


def forwards(apps, schema_editor):
    _content_types_relabel(apps, "config", "accounts")


def backwards(apps, schema_editor):
    _content_types_relabel(apps, "accounts", "config")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("config", "0005_outbox"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Account",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(default="Promo Campaigns", max_length=200)),
                        (
                            "timezone",
                            models.CharField(
                                default="Asia/Kolkata",
                                help_text="Every date a person types or reads is in this timezone; storage is UTC.",
                                max_length=64,
                                validators=[accounts.models.validate_timezone],
                            ),
                        ),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "db_table": "config_account",
                        "constraints": [
                            models.CheckConstraint(condition=models.Q(("pk", 1)), name="account_is_singleton")
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("name", models.CharField(max_length=200)),
                        ("key_id", models.CharField(editable=False, max_length=32, unique=True)),
                        ("secret_hash", models.CharField(editable=False, max_length=64)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                        ("revoked_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        (
                            "scopes",
                            django.contrib.postgres.fields.ArrayField(
                                base_field=models.CharField(choices=accounts.models.ApiScope.choices, max_length=32),
                                default=accounts.models.all_scopes,
                                size=None,
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                editable=False,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"verbose_name": "API key", "db_table": "config_apikey", "ordering": ["-created_at"]},
                ),
                migrations.CreateModel(
                    name="IdempotencyRecord",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("endpoint", models.CharField(default="wallets.transactions", max_length=64)),
                        ("key", models.CharField(max_length=255)),
                        ("fingerprint", models.CharField(max_length=64)),
                        ("response_status", models.PositiveSmallIntegerField()),
                        ("response_body", models.JSONField()),
                        ("response_content", models.TextField(blank=True, default="")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "api_key",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="accounts.apikey"
                            ),
                        ),
                    ],
                    options={
                        "db_table": "config_idempotencyrecord",
                        "ordering": ["-created_at"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("api_key", "endpoint", "key"), name="idempotency_once_per_key_endpoint"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="WorkerHeartbeat",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("hostname", models.CharField(max_length=255, unique=True)),
                        ("seen_at", models.DateTimeField()),
                    ],
                    options={"db_table": "config_workerheartbeat"},
                ),
                migrations.CreateModel(
                    name="RateLimitCounter",
                    fields=[
                        ("bucket", models.CharField(max_length=200, primary_key=True, serialize=False)),
                        ("window_number", models.BigIntegerField()),
                        ("count", models.PositiveIntegerField()),
                    ],
                    options={"db_table": "config_ratelimitcounter"},
                ),
                migrations.CreateModel(
                    name="Outbox",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("topic", models.CharField(max_length=100)),
                        ("payload", models.JSONField()),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                    ],
                    options={
                        "db_table": "config_outbox",
                        "indexes": [models.Index(fields=["topic", "id"], name="outbox_topic_id")],
                    },
                ),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
