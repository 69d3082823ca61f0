from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME = "promotions: outcome reports (campaigns with a goal)"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task="promotions.outcomes_refresh_due", every_seconds=900)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("promotions", "0014_outcome_goal_holdout"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
