"""Beat entries live in django-celery-beat's tables, created by data migrations.

Each app that needs a periodic sweep adds a migration calling `periodic_task_ensure` (and
`periodic_task_remove` for reversal), so the schedule is visible and pausable in Django admin
and never depends on a settings dict. Campaigns never get entries of their own.
"""

from django.utils import timezone

BEAT_MIGRATION_DEPENDENCY = ("django_celery_beat", "0019_alter_periodictasks_options")


def periodic_task_ensure(apps, *, name: str, task: str, every_seconds: int) -> None:
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = interval_model.objects.get_or_create(every=every_seconds, period="seconds")
    task_model.objects.update_or_create(name=name, defaults={"task": task, "interval": interval, "enabled": True})
    changed = apps.get_model("django_celery_beat", "PeriodicTasks")
    # Tell a running beat that its schedule changed.
    changed.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def periodic_task_remove(apps, *, name: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()
