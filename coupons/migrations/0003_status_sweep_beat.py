from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME = "Coupons: start scheduled and end expired coupons"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task="coupons.status_sweep", every_seconds=60)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("coupons", "0002_code_inventory"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
