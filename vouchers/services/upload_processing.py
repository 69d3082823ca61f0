"""Storing a confirmed upload's codes in one transaction, its progress written beside it."""

import logging
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from core import db
from vouchers import selectors, upload_files
from vouchers.models import MAX_CODES_PER_LIST, DiscardedVoucherList, VoucherList, VoucherListEvent, VoucherUpload
from vouchers.services import staging
from vouchers.services.uploads import (
    ERR_LIST_FULL,
    pending_list_discard,
    upload_current,
    voucher_upload_create,
    voucher_upload_validate,
)
from vouchers.services.voucher_lists import event_record

logger = logging.getLogger(__name__)

Status = VoucherList.Status
UploadStatus = VoucherUpload.Status


ERR_PROCESS_NOTHING_STORED = "None of the codes could be stored (they are already in your other lists)."

ERR_PROCESS_LIST_CLOSED = "The list was archived or expired before the codes could be stored."
ERR_PROCESS_UNEXPECTED = "Processing failed unexpectedly; no codes were stored. Try the upload again."


class _ProgressReporter(db.LiveProgress):
    """Progress of a processing run, where the partner's page can read it while the run's
    all-or-nothing transaction (which holds the upload row) is still open: the
    VoucherUploadProgress row, written on a second connection (that table has no database
    foreign key, so the write never waits on the upload row's lock)."""

    def __init__(self, upload_id: int):
        super().__init__(
            VoucherUpload.live_progress_key(upload_id),
            "INSERT INTO vouchers_voucheruploadprogress (upload_id, done, updated_at) "
            "VALUES (%(upload)s, %(done)s, now()) ON CONFLICT (upload_id) "
            "DO UPDATE SET done = EXCLUDED.done, updated_at = EXCLUDED.updated_at",
            {"upload": upload_id},
        )


class _ProcessingFailed(Exception):
    pass


def voucher_upload_process(*, upload: VoucherUpload) -> VoucherUpload:
    """Store a confirmed upload's codes set-based, all or nothing; safe to run twice."""
    progress = _ProgressReporter(upload.pk)
    try:
        with transaction.atomic():
            # Serialises duplicate task deliveries: the second waits, then sees Completed.
            locked = VoucherUpload.objects.select_for_update().filter(pk=upload.pk).first()
            if locked is None or locked.status != UploadStatus.IN_PROGRESS:
                return locked or upload
            _process_locked(locked, progress)
    except _ProcessingFailed as exc:
        _process_failed(upload, str(exc))
    except upload_files.FileRejected as exc:
        _process_failed(upload, str(exc))
    except Exception:
        logger.exception("Voucher upload %s failed", upload.pk)
        _process_failed(upload, ERR_PROCESS_UNEXPECTED)
    finally:
        progress.close()
    # Fresh statistics keep claims on the partial pool index fast (0.5 ms, not 780 ms).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE vouchers_vouchercode")
    return upload_current(upload, status=UploadStatus.FAILED)


def _process_locked(upload: VoucherUpload, progress) -> None:
    voucher_list = upload.voucher_list
    now = timezone.now()
    with connection.cursor() as cursor:
        staging.create_staging_table(cursor)
        with upload.file.open("rb") as raw:
            staging.stage_rows(cursor, upload_files.read_code_rows(raw), progress=progress)
        done = upload.rows_read
        progress(done)
        staging.mark_duplicates(cursor, partner_id=voucher_list.partner_id)
        cursor.execute("SELECT COALESCE(MAX(line), 0) FROM voucher_upload_rows")
        last_line = cursor.fetchone()[0]
        # The codes' three foreign keys (list, partner, upload) are checked once, by locking
        # those rows as the per-row triggers would, instead of three times per code.
        skip_row_triggers = db.row_triggers_skippable()
        if skip_row_triggers:
            cursor.execute(
                "SELECT 1 FROM vouchers_voucherlist AS l JOIN vouchers_partner AS p ON p.id = l.partner_id"
                " WHERE l.id = %s FOR KEY SHARE",
                [voucher_list.pk],
            )
        start = 0
        while start < last_line:
            end = start + staging.PROCESS_CHUNK
            # ON CONFLICT absorbs a code a concurrent upload stored after our duplicate check.
            with db.row_triggers_skipped(cursor, skip=skip_row_triggers):
                cursor.execute(
                    """
                    INSERT INTO vouchers_vouchercode (voucher_list_id, partner_id, code, upload_id, list_archived)
                    SELECT %s, %s, s.code, %s, %s FROM voucher_upload_rows AS s
                    WHERE s.kind = %s AND s.line > %s AND s.line <= %s
                    ORDER BY s.line
                    ON CONFLICT DO NOTHING
                    """,
                    [voucher_list.pk, voucher_list.partner_id, upload.pk, False, upload_files.KIND_VALID, start, end],
                )
                done += max(cursor.rowcount, 0)
            progress(done)
            start = end
        cursor.execute(
            """
            UPDATE voucher_upload_rows SET kind = %s, error = %s
            WHERE kind = %s AND NOT EXISTS (
                SELECT 1 FROM vouchers_vouchercode AS c WHERE c.upload_id = %s AND c.code = voucher_upload_rows.code
            )
            """,
            [upload_files.KIND_DUP_EXISTING, staging.DUP_RACE_MESSAGE, upload_files.KIND_VALID, upload.pk],
        )
        counts = staging.kind_counts(cursor)
        content, error_count = staging.error_file_content(cursor)
        staging.drop_staging_table(cursor)
    accepted = counts.get(upload_files.KIND_VALID, 0)
    if accepted == 0 and voucher_list.status == Status.PENDING:
        # A new list is made active only with codes in it.
        raise _ProcessingFailed(ERR_PROCESS_NOTHING_STORED)
    # The list's counter moves last, by a conditional UPDATE: its row lock is held only
    # for the commit, and a list that filled up, expired or was archived meanwhile fails
    # the whole upload.
    grown = VoucherList.objects.filter(
        selectors.not_expired_q(),
        pk=voucher_list.pk,
        status__in=[Status.ACTIVE, Status.PAUSED, Status.PENDING],
        codes_total__lte=MAX_CODES_PER_LIST - accepted,
    ).update(
        codes_total=F("codes_total") + accepted,
        updated_at=now,
        # A new list's first codes are stored: from now on campaigns may use it.
        status=Case(When(status=Status.PENDING, then=Value(Status.ACTIVE)), default=F("status")),
    )
    if not grown:
        current = VoucherList.objects.get(pk=voucher_list.pk)
        if current.codes_total + accepted > MAX_CODES_PER_LIST:
            raise _ProcessingFailed(
                ERR_LIST_FULL.format(total=current.codes_total + accepted, limit=MAX_CODES_PER_LIST)
            )
        raise _ProcessingFailed(ERR_PROCESS_LIST_CLOSED)
    fields = {
        "status": UploadStatus.COMPLETED,
        "codes_accepted": accepted,
        "error_count": error_count,
        "completed_at": timezone.now(),
        "progress_done": upload.progress_total,
        "duplicates_in_file": counts.get(upload_files.KIND_DUP_FILE, 0),
        "duplicates_existing": counts.get(upload_files.KIND_DUP_EXISTING, 0),
        "bad_rows": counts.get(upload_files.KIND_BAD, 0),
        "error_file": "",
    }
    if content is not None:
        upload.error_file.save("errors.csv", content, save=False)
        content.close()
        fields["error_file"] = upload.error_file.name
    VoucherUpload.objects.filter(pk=upload.pk).update(**fields)
    event_record(
        voucher_list,
        upload.confirmed_by,
        VoucherListEvent.Action.UPLOAD_COMPLETED,
        f"{upload.file_name}: {accepted:,} codes added, {error_count:,} errors",
    )


def _process_failed(upload: VoucherUpload, message: str) -> None:
    with transaction.atomic():
        updated = VoucherUpload.objects.filter(pk=upload.pk, status=UploadStatus.IN_PROGRESS).update(
            status=UploadStatus.FAILED, error_message=message, completed_at=timezone.now(), codes_accepted=0
        )
        if updated:
            event_record(
                upload.voucher_list,
                upload.confirmed_by,
                VoucherListEvent.Action.UPLOAD_FAILED,
                f"{upload.file_name}: {message}",
            )
            pending_list_discard(
                upload, outcome=DiscardedVoucherList.Outcome.FAILED, message=message, actor=upload.confirmed_by
            )


def voucher_codes_load(*, voucher_list: VoucherList, codes: Iterable[str], actor=None, file_name="codes.csv"):
    """Upload, validate, confirm and process a list of codes synchronously (demo, benches)."""
    text = "\n".join(codes) + "\n"
    upload = voucher_upload_create(
        voucher_list=voucher_list, file=ContentFile(text.encode("utf-8"), name=file_name), uploaded_by=actor
    )
    upload = voucher_upload_validate(upload=upload)
    if upload.status != UploadStatus.AWAITING_CONFIRMATION:
        return upload
    with transaction.atomic():
        VoucherUpload.objects.filter(pk=upload.pk, status=UploadStatus.AWAITING_CONFIRMATION).update(
            status=UploadStatus.IN_PROGRESS,
            confirmed_by=actor,
            confirmed_at=timezone.now(),
            progress_total=upload.rows_read + upload.codes_valid,
        )
        event_record(voucher_list, actor, VoucherListEvent.Action.UPLOAD_CONFIRMED, upload.file_name)
    upload.refresh_from_db()
    return voucher_upload_process(upload=upload)
