"""An upload of codes: created, validated into a report (nothing stored), confirmed or cancelled."""

import logging

from django.db import connection, transaction
from django.utils import timezone

from accounts import outbox
from vouchers import upload_files
from vouchers.models import (
    MAX_CODES_PER_LIST,
    DiscardedVoucherList,
    VoucherCode,
    VoucherList,
    VoucherListEvent,
    VoucherUpload,
    VoucherUploadProgress,
)
from vouchers.services import staging
from vouchers.services.voucher_lists import VoucherError, event_record

logger = logging.getLogger(__name__)

Status = VoucherList.Status
UploadStatus = VoucherUpload.Status


VALIDATE_TASK = "vouchers.upload_validate"
PROCESS_TASK = "vouchers.upload_process"

ERR_VALIDATION_FAILED = "The file could not be validated; upload it again or contact support."


ERR_UPLOAD_STATUS = "Codes can be uploaded only to an active or paused list."
ERR_UPLOAD_PENDING = "This list is waiting for its first upload; add more codes once that upload is stored."

ERR_CONFIRM_STATUS = "Only an upload awaiting confirmation can be confirmed."
ERR_CONFIRM_NOTHING = "There are no valid codes to store in this file."
ERR_CANCEL_STATUS = "Only an upload awaiting confirmation or still validating can be cancelled."

ERR_LIST_FULL = "This upload would take the list to {total:,} codes; a list holds at most {limit:,}."


# --- Uploads ---------------------------------------------------------------------------


def voucher_upload_create(
    *, voucher_list: VoucherList, file, uploaded_by, validate_in_background: bool = False
) -> VoucherUpload:
    """Store an uploaded CSV (not its codes) as Validating; the caller validates it next, or a
    background task does (`validate_in_background`: owed in the same transaction, accounts/outbox.py)."""
    if file.size > upload_files.MAX_UPLOAD_BYTES:
        raise VoucherError(upload_files.file_too_large_message(file.size))
    if voucher_list.status == Status.PENDING:
        if voucher_list.uploads.exists():
            raise VoucherError(ERR_UPLOAD_PENDING)
    elif voucher_list.status not in (Status.ACTIVE, Status.PAUSED):
        raise VoucherError(ERR_UPLOAD_STATUS)
    has_codes = voucher_list.codes_total > 0 or voucher_list.uploads.filter(status=UploadStatus.COMPLETED).exists()
    with transaction.atomic():
        upload = VoucherUpload(
            voucher_list=voucher_list,
            kind=VoucherUpload.Kind.TOP_UP if has_codes else VoucherUpload.Kind.NEW_LIST,
            uploaded_by=uploaded_by,
            file_name=(getattr(file, "name", "") or "codes.csv").rsplit("/", 1)[-1][:255],
            file_size=file.size,
        )
        upload.file.save("upload.csv", file, save=False)
        upload.save()
        if validate_in_background:
            outbox.job_enqueue(task=VALIDATE_TASK, args=[upload.pk])
    return upload


def _reject(upload: VoucherUpload, message: str, *, actor=None) -> VoucherUpload:
    with transaction.atomic():
        updated = VoucherUpload.objects.filter(pk=upload.pk, status=UploadStatus.VALIDATING).update(
            status=UploadStatus.FAILED, error_message=message, validated_at=timezone.now(), error_count=0
        )
        if updated:
            event_record(
                upload.voucher_list,
                actor or upload.uploaded_by,
                VoucherListEvent.Action.UPLOAD_REJECTED,
                f"{upload.file_name}: {message}",
            )
            pending_list_discard(
                upload, outcome=DiscardedVoucherList.Outcome.REFUSED, message=message, actor=actor or upload.uploaded_by
            )
    return upload_current(upload, status=UploadStatus.FAILED, error_message=message)


def upload_current(upload: VoucherUpload, **gone_fields) -> VoucherUpload:
    """The upload as stored now; if its new list was discarded (the row is gone), the
    in-memory upload with `gone_fields` applied and `list_discarded` set."""
    fresh = VoucherUpload.objects.filter(pk=upload.pk).first()
    if fresh is not None:
        upload.refresh_from_db()
        return upload
    for field, value in gone_fields.items():
        setattr(upload, field, value)
    upload.list_discarded = True
    return upload


def pending_list_discard(upload: VoucherUpload, *, outcome: str, message: str, actor) -> bool:
    """Remove a Pending list whose first upload ended without storing codes (SPEC 8: a failed
    upload changes nothing, and the tag is free again at once). Leaves a DiscardedVoucherList
    so the upload's page can still say what happened. Runs in the caller's transaction."""
    voucher_list = (
        VoucherList.objects.select_for_update().filter(pk=upload.voucher_list_id, status=Status.PENDING).first()
    )
    if voucher_list is None:
        return False
    uploads = list(VoucherUpload.objects.filter(voucher_list=voucher_list))
    if any(u.status not in (UploadStatus.FAILED, UploadStatus.CANCELLED) for u in uploads) or (
        VoucherCode.objects.filter(voucher_list=voucher_list).exists()
    ):
        return False
    DiscardedVoucherList.objects.create(
        partner_id=voucher_list.partner_id,
        upload_id=upload.pk,
        tag=voucher_list.tag,
        name=voucher_list.name,
        file_name=upload.file_name,
        outcome=outcome,
        message=message,
        actor=actor,
    )
    names = [f.name for u in uploads for f in (u.file, u.error_file) if f]
    VoucherUploadProgress.objects.filter(upload_id__in=[u.pk for u in uploads]).delete()
    VoucherUpload.objects.filter(voucher_list=voucher_list).delete()
    logger.info("Voucher list %s discarded: first upload %s %s", voucher_list.pk, upload.pk, outcome)
    voucher_list.delete()  # its history events go with it
    storage = VoucherUpload._meta.get_field("file").storage
    transaction.on_commit(lambda: [storage.delete(name) for name in names])
    return True


def voucher_upload_validate(*, upload: VoucherUpload) -> VoucherUpload:
    """Build the validation report (counts and error file) without storing any code.

    Safe to run twice: only an upload still Validating is validated.
    """
    if upload.status != UploadStatus.VALIDATING:
        return upload
    partner_id = upload.voucher_list.partner_id
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            staging.create_staging_table(cursor)
            with upload.file.open("rb") as raw:
                header = staging.stage_rows(cursor, upload_files.read_code_rows(raw))
            staging.mark_duplicates(cursor, partner_id=partner_id)
            counts = staging.kind_counts(cursor)
            content, error_count = staging.error_file_content(cursor)
            staging.drop_staging_table(cursor)
            valid = counts.get(upload_files.KIND_VALID, 0)
            codes_total = (
                VoucherList.objects.filter(pk=upload.voucher_list_id).values_list("codes_total", flat=True).first()
            )
            if codes_total is None:  # a new list discarded meanwhile (its upload was cancelled)
                if content is not None:
                    content.close()
                return upload_current(upload, status=UploadStatus.CANCELLED)
            total_after = codes_total + valid
            message = ""
            if total_after > MAX_CODES_PER_LIST:
                message = ERR_LIST_FULL.format(total=total_after, limit=MAX_CODES_PER_LIST)
            fields = {
                "rows_read": sum(counts.values()),
                "codes_valid": valid,
                "duplicates_in_file": counts.get(upload_files.KIND_DUP_FILE, 0),
                "duplicates_existing": counts.get(upload_files.KIND_DUP_EXISTING, 0),
                "bad_rows": counts.get(upload_files.KIND_BAD, 0),
                "header_skipped": header,
                "error_count": error_count,
                "validated_at": timezone.now(),
                "error_message": message,
                "status": UploadStatus.FAILED if message else UploadStatus.AWAITING_CONFIRMATION,
            }
            if content is not None:
                upload.error_file.save("errors.csv", content, save=False)
                content.close()
                fields["error_file"] = upload.error_file.name
            if not VoucherUpload.objects.filter(pk=upload.pk, status=UploadStatus.VALIDATING).update(**fields):
                # Cancelled meanwhile: the error file just saved belongs to nothing.
                if fields.get("error_file"):
                    transaction.on_commit(lambda: upload.error_file.storage.delete(fields["error_file"]))
                return upload_current(upload, status=UploadStatus.CANCELLED)
            event_record(
                upload.voucher_list,
                upload.uploaded_by,
                VoucherListEvent.Action.UPLOAD_REJECTED if message else VoucherListEvent.Action.UPLOAD_VALIDATED,
                f"{upload.file_name}: {valid:,} valid of {fields['rows_read']:,} rows"
                + (f" — {message}" if message else ""),
            )
            if message:
                pending_list_discard(
                    upload, outcome=DiscardedVoucherList.Outcome.REFUSED, message=message, actor=upload.uploaded_by
                )
    except upload_files.FileRejected as exc:
        return _reject(upload, str(exc))
    except Exception:
        # Never left Validating (nor a 500 for the partner): whatever was not foreseen fails the upload.
        logger.exception("Voucher upload %s could not be validated", upload.pk)
        return _reject(upload, ERR_VALIDATION_FAILED)
    return upload_current(upload, status=UploadStatus.FAILED, error_message=fields["error_message"])


def voucher_upload_confirm(*, upload: VoucherUpload, actor) -> VoucherUpload:
    """Awaiting confirmation → In progress, and owe the processing task in the same transaction."""
    with transaction.atomic():
        voucher_list = upload.voucher_list
        if voucher_list.status not in (Status.ACTIVE, Status.PAUSED, Status.PENDING):
            raise VoucherError(ERR_UPLOAD_STATUS)
        if upload.status == UploadStatus.AWAITING_CONFIRMATION and upload.codes_valid == 0:
            raise VoucherError(ERR_CONFIRM_NOTHING)
        updated = VoucherUpload.objects.filter(
            pk=upload.pk, status=UploadStatus.AWAITING_CONFIRMATION, codes_valid__gt=0
        ).update(
            status=UploadStatus.IN_PROGRESS,
            confirmed_by=actor,
            confirmed_at=timezone.now(),
            progress_done=0,
            progress_total=upload.rows_read + upload.codes_valid,
        )
        if not updated:
            raise VoucherError(ERR_CONFIRM_STATUS)
        event_record(voucher_list, actor, VoucherListEvent.Action.UPLOAD_CONFIRMED, upload.file_name)
        outbox.job_enqueue(task=PROCESS_TASK, args=[upload.pk])
    upload.refresh_from_db()
    return upload


def voucher_upload_cancel(*, upload: VoucherUpload, actor) -> VoucherUpload:
    """Cancel an upload before processing; nothing was stored, so nothing is undone."""
    with transaction.atomic():
        updated = VoucherUpload.objects.filter(
            pk=upload.pk, status__in=[UploadStatus.AWAITING_CONFIRMATION, UploadStatus.VALIDATING]
        ).update(status=UploadStatus.CANCELLED, completed_at=timezone.now())
        if not updated:
            raise VoucherError(ERR_CANCEL_STATUS)
        event_record(upload.voucher_list, actor, VoucherListEvent.Action.UPLOAD_CANCELLED, upload.file_name)
        pending_list_discard(upload, outcome=DiscardedVoucherList.Outcome.CANCELLED, message="", actor=actor)
    return upload_current(upload, status=UploadStatus.CANCELLED)
