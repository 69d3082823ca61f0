from celery import shared_task

from accounts import outbox
from vouchers import services
from vouchers.models import VoucherUpload


@shared_task(name=services.VALIDATE_TASK, acks_late=True, reject_on_worker_lost=True)
def voucher_upload_validate_task(upload_id: int) -> None:
    """Validate a large upload in the background; only an upload still Validating is touched."""
    outbox.job_started(task=services.VALIDATE_TASK, args=[upload_id])
    upload = VoucherUpload.objects.select_related("voucher_list").filter(pk=upload_id).first()
    if upload is not None:
        services.voucher_upload_validate(upload=upload)


@shared_task(name=services.PROCESS_TASK, acks_late=True, reject_on_worker_lost=True)
def voucher_upload_process_task(upload_id: int) -> None:
    """Store a confirmed upload's codes; a second delivery finds it Completed and stops."""
    outbox.job_started(task=services.PROCESS_TASK, args=[upload_id])
    upload = VoucherUpload.objects.select_related("voucher_list").filter(pk=upload_id).first()
    if upload is not None:
        services.voucher_upload_process(upload=upload)


@shared_task(name="vouchers.lists_expire")
def voucher_lists_expire_task() -> None:
    """Beat sweep: lists past their expiry date become Expired."""
    services.voucher_lists_expire()
