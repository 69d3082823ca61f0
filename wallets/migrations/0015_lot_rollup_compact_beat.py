"""Beat entry: the lot rollup's settled rows merged hourly (wallets/services/rollups.py)."""

from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME, TASK, EVERY = "Wallet lot rollup compaction", "wallets.lot_rollup_compact", 3600


def add_beat(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task=TASK, every_seconds=EVERY)


def remove_beat(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("wallets", "0014_ledger_rollup_sixteen_shards"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(add_beat, remove_beat)]
