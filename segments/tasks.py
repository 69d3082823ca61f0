from celery import shared_task

from accounts import outbox
from segments import services


@shared_task(name=services.CUSTOM_LIST_TASK, acks_late=True, reject_on_worker_lost=True)
def custom_list_process(upload_id: int) -> None:
    """Process one custom-list CSV upload (safe to run twice: a finished upload is left alone)."""
    outbox.job_started(task=services.CUSTOM_LIST_TASK, args=[upload_id])
    services.custom_list_process(upload_id=upload_id)
