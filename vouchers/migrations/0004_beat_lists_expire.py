from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME = "Voucher lists: mark expired lists"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task="vouchers.lists_expire", every_seconds=300)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0003_codes_uploads_assignments"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
