import django.utils.timezone
from django.db import migrations, models

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

SWEEP = "Outbox sweep"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=SWEEP, task="config.outbox_sweep", every_seconds=30)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=SWEEP)


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0004_api_scopes_and_idempotency"),
        BEAT_MIGRATION_DEPENDENCY,
    ]

    # A new, empty table and one beat row: no cost on existing data.
    operations = [
        migrations.CreateModel(
            name="Outbox",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("topic", models.CharField(max_length=100)),
                ("payload", models.JSONField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "indexes": [models.Index(fields=["topic", "id"], name="outbox_topic_id")],
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
