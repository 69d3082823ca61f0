from celery import shared_task

from coupons import services


@shared_task(name="coupons.generate_codes", acks_late=True, reject_on_worker_lost=True)
def generate_codes(batch_id: int) -> None:
    """Generate one chunk of a batch, then enqueue the next; progress lives in the batch row."""
    if services.code_generation_step(batch_id=batch_id):
        generate_codes.delay(batch_id)


@shared_task(name="coupons.import_codes", acks_late=True, reject_on_worker_lost=True)
def import_codes(batch_id: int) -> None:
    """Store an import's codes, all or nothing; progress lives beside the batch row."""
    services.code_import_run(batch_id=batch_id)


@shared_task(name="coupons.status_sweep")
def status_sweep() -> None:
    """Beat, every minute: scheduled coupons start, coupons past their end time end."""
    services.coupon_status_sweep()
