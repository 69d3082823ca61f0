from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove
from webhooks.sql import DROP, FUNCTIONS

SWEEP = "Webhooks: deliver due events and e-mail alerts"
DIGEST = "Webhooks: points expiring digest"


def add_beat(apps, schema_editor):
    periodic_task_ensure(apps, name=SWEEP, task="webhooks.deliver_due", every_seconds=5)


def remove_beat(apps, schema_editor):
    periodic_task_remove(apps, name=SWEEP)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_pending_events"),
        ("auth", "0012_alter_user_first_name_max_length"),
        BEAT_MIGRATION_DEPENDENCY,
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP),
        migrations.RunPython(add_beat, remove_beat),
    ]
