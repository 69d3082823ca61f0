from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

GROUPS = ["Marketer", "Partner"]
HEARTBEAT = "Worker heartbeat"


def forwards(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for name in GROUPS:
        group_model.objects.get_or_create(name=name)
    apps.get_model("config", "Account").objects.get_or_create(pk=1)
    periodic_task_ensure(apps, name=HEARTBEAT, task="config.worker_heartbeat", every_seconds=60)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()
    periodic_task_remove(apps, name=HEARTBEAT)


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        BEAT_MIGRATION_DEPENDENCY,
    ]

    operations = [migrations.RunPython(forwards, backwards)]
