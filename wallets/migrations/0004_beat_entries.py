from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

ENTRIES = [
    ("Wallet points activation", "wallets.lots_activate_due", 60),
    ("Wallet points expiry", "wallets.lots_expire_due", 60),
]


def forwards(apps, schema_editor):
    for name, task, every in ENTRIES:
        periodic_task_ensure(apps, name=name, task=task, every_seconds=every)


def backwards(apps, schema_editor):
    for name, _task, _every in ENTRIES:
        periodic_task_remove(apps, name=name)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0003_append_only_ledger"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
