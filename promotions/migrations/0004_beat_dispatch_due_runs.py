from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME = "promotions: dispatch due campaign runs"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task="promotions.dispatch_due_runs", every_seconds=30)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("promotions", "0003_grant"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
