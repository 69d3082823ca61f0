"""The account-wide periodic tasks: the worker heartbeat (/healthz) and the outbox sweep. Their names
still say `config.`: they were defined there, and names in queued messages and beat rows never change."""

import socket

from celery import shared_task
from django.utils import timezone

from accounts import outbox
from accounts.models import WorkerHeartbeat


@shared_task(name="config.worker_heartbeat")
def worker_heartbeat() -> None:
    """Record that a worker is alive and consuming; beat sends this every minute."""
    WorkerHeartbeat.objects.update_or_create(hostname=socket.gethostname(), defaults={"seen_at": timezone.now()})


@shared_task(name="config.outbox_sweep", acks_late=True, reject_on_worker_lost=True)
def outbox_sweep() -> list[str]:
    """Wake the consumers of outbox rows whose wake-up task never came (beat, every 30 s)."""
    return outbox.outbox_sweep()
