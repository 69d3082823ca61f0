from celery import shared_task

from segments import services


@shared_task(name="segments.custom_list_process", acks_late=True, reject_on_worker_lost=True)
def custom_list_process(upload_id: int) -> None:
    """Process one custom-list CSV upload (safe to run twice: a finished upload is left alone)."""
    services.custom_list_process(upload_id=upload_id)
