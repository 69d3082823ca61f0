import socket

from celery import shared_task
from django.utils import timezone

from config.models import WorkerHeartbeat


@shared_task(name="config.worker_heartbeat")
def worker_heartbeat() -> None:
    """Record that a worker is alive and consuming; beat sends this every minute."""
    WorkerHeartbeat.objects.update_or_create(hostname=socket.gethostname(), defaults={"seen_at": timezone.now()})
