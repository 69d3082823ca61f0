from celery import shared_task
from django.db import transaction

from accounts import outbox
from coupons import services


@shared_task(name=services.GENERATE_TASK, acks_late=True, reject_on_worker_lost=True)
def generate_codes(batch_id: int) -> None:
    """Generate one chunk of a batch, then owe the next; progress lives in the batch row."""
    outbox.job_started(task=services.GENERATE_TASK, args=[batch_id])
    if services.code_generation_step(batch_id=batch_id):
        # Owed before this task is acknowledged (acks_late): a broker down now delays the next
        # chunk until the outbox sweep, and a worker dying before this line redelivers the task.
        with transaction.atomic():
            outbox.job_enqueue(task=services.GENERATE_TASK, args=[batch_id])


@shared_task(name=services.IMPORT_TASK, acks_late=True, reject_on_worker_lost=True)
def import_codes(batch_id: int) -> None:
    """Store an import's codes, all or nothing; progress lives beside the batch row."""
    outbox.job_started(task=services.IMPORT_TASK, args=[batch_id])
    services.code_import_run(batch_id=batch_id)


@shared_task(name="coupons.status_sweep")
def status_sweep() -> None:
    """Beat, every minute: scheduled coupons start, coupons past their end time end."""
    services.coupon_status_sweep()
