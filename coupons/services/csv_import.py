"""A bulk series' codes imported from a CSV file: checked, then stored all or nothing."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts import outbox
from core import db
from coupons.models import CodeBatch, Coupon
from coupons.services.code_generation import ERR_GENERATION_RUNNING, ERR_NOT_BULK, analyze_codes, insert_codes
from coupons.services.lifecycle import ERR_ARCHIVED_READ_ONLY, event_record

logger = logging.getLogger(__name__)

Status = Coupon.Status


IMPORT_TASK = "coupons.import_codes"
# Imports: codes per INSERT (the progress step); files up to this size are checked inside
# the request, so their problems reach the form at once.
IMPORT_CHUNK = 100_000
SYNC_IMPORT_CHECK_BYTES = 2 * 1024 * 1024

ERR_IMPORT_RACE = "Some codes of the file were added to the series while it was being imported; nothing was stored."
ERR_IMPORT_UNEXPECTED = "The import failed unexpectedly; nothing was stored. Try again."

# --- code inventory: CSV import --------------------------------------------------------------


def _check_importable(coupon: Coupon) -> None:
    if coupon.kind != Coupon.Kind.BULK:
        raise ValidationError(ERR_NOT_BULK)
    if coupon.status == Status.ARCHIVED:
        raise ValidationError(ERR_ARCHIVED_READ_ONLY)


def code_import_start(*, coupon: Coupon, upload, actor) -> CodeBatch:
    """Check a one-column CSV of codes, store it and queue its import (SPEC 3.2).

    A file up to SYNC_IMPORT_CHECK_BYTES is checked here (size, encoding, columns, code
    syntax, repeats in the file, codes already in the series), so its problems, by line,
    reach the form at once and nothing is queued; a larger file is checked by the task, and
    its problems are shown on the batch. Either way no code is stored unless all are.
    """
    from coupons import imports

    _check_importable(coupon)
    size = getattr(upload, "size", None) or 0
    if size > imports.MAX_BYTES:
        raise ValidationError(imports.ERR_TOO_LARGE.format(size_mb=size / 1024 / 1024))
    count = 0
    if size <= SYNC_IMPORT_CHECK_BYTES:
        rows = imports.read_codes(upload)  # raises ValidationError listing bad lines
        clashes = imports.codes_already_in_series(coupon=coupon, rows=rows)
        if clashes:
            raise ValidationError(imports.clash_messages(clashes))
        count = len(rows)
    with transaction.atomic():
        Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
        if coupon.batches.filter(status__in=[CodeBatch.Status.PENDING, CodeBatch.Status.RUNNING]).exists():
            raise ValidationError(ERR_GENERATION_RUNNING)
        batch = CodeBatch(
            coupon=coupon,
            source=CodeBatch.Source.IMPORTED,
            status=CodeBatch.Status.PENDING,
            requested=count,
            file_name=(getattr(upload, "name", "") or "")[:255],
            created_by=actor,
        )
        upload.seek(0)
        batch.file.save("import.csv", upload, save=False)
        batch.save()
        event_record(
            coupon=coupon, actor=actor, action="import", message=f"Started importing codes from {batch.file_name}."
        )
        outbox.job_enqueue(task=IMPORT_TASK, args=[batch.pk])
    return batch


class _ImportRefused(Exception):
    pass


def code_import_run(*, batch_id: int) -> CodeBatch:
    """Store an import's codes, all of the file or nothing; safe to run twice.

    The codes go in with one transaction (chunks of IMPORT_CHUNK, progress written beside
    it: core/db.py); a problem found now (a bad file, codes another import or
    generation added meanwhile, the coupon archived) fails the batch with its reasons and
    stores nothing.
    """
    from coupons import imports

    Batch = CodeBatch  # noqa: N806
    # Pending, or Running after a worker was lost mid-way: that run's transaction rolled back.
    claimed = Batch.objects.filter(
        pk=batch_id, source=Batch.Source.IMPORTED, status__in=[Batch.Status.PENDING, Batch.Status.RUNNING]
    ).update(status=Batch.Status.RUNNING, done=0)
    batch = Batch.objects.select_related("coupon", "created_by").get(pk=batch_id)
    if not claimed:
        return batch
    progress = db.LiveProgress(
        Batch.live_progress_key(batch.pk),
        "UPDATE coupons_codebatch SET done = %(done)s WHERE id = %(batch)s AND status = 'running'",
        {"batch": batch.pk},
    )
    try:
        with batch.file.open("rb") as raw:
            rows = imports.read_codes(raw)
        Batch.objects.filter(pk=batch.pk, status=Batch.Status.RUNNING).update(requested=len(rows))
        with transaction.atomic():
            _import_locked(batch, rows, progress)
    except ValidationError as exc:
        _import_failed(batch, "\n".join(exc.messages))
    except _ImportRefused as exc:
        _import_failed(batch, str(exc))
    except Exception:
        logger.exception("Code import %s failed", batch.pk)
        _import_failed(batch, ERR_IMPORT_UNEXPECTED)
    finally:
        progress.close()
    batch.refresh_from_db()
    return batch


def _import_locked(batch: CodeBatch, rows: list[tuple[int, str]], progress) -> None:
    from coupons import imports

    # The coupon row first (as every writer of its counters): a concurrent import of the
    # same codes waits here, then finds them in the series.
    coupon = Coupon.objects.select_for_update(no_key=True).get(pk=batch.coupon_id)
    _check_importable(coupon)
    clashes = imports.codes_already_in_series(coupon=coupon, rows=rows)
    if clashes:
        raise ValidationError(imports.clash_messages(clashes))
    codes = [code for _, code in rows]
    inserted = 0
    for start in range(0, len(codes), IMPORT_CHUNK):
        part = codes[start : start + IMPORT_CHUNK]
        added = insert_codes(coupon=coupon, codes=part, skip_existing_check=True)
        if added != len(part):
            # A generation drew one of these codes after the check: refuse the whole file.
            raise _ImportRefused(ERR_IMPORT_RACE)
        inserted += added
        progress(inserted)
    Coupon.objects.filter(pk=coupon.pk).update(codes_total=F("codes_total") + inserted)
    finished = CodeBatch.objects.filter(pk=batch.pk, status=CodeBatch.Status.RUNNING).update(
        status=CodeBatch.Status.COMPLETED, requested=inserted, done=inserted, finished_at=timezone.now(), error=""
    )
    if not finished:
        raise _ImportRefused(ERR_IMPORT_UNEXPECTED)
    event_record(
        coupon=coupon,
        actor=batch.created_by,
        action="imported",
        message=f"Imported {inserted:,} codes from {batch.file_name}.",
    )
    transaction.on_commit(analyze_codes)


def _import_failed(batch: CodeBatch, message: str) -> None:
    with transaction.atomic():
        failed = CodeBatch.objects.filter(pk=batch.pk, status=CodeBatch.Status.RUNNING).update(
            status=CodeBatch.Status.FAILED, done=0, error=message, finished_at=timezone.now()
        )
        if failed:
            event_record(
                coupon=batch.coupon,
                actor=batch.created_by,
                action="import_failed",
                message=f"Import of {batch.file_name} refused; no code was stored.",
            )


def code_import(*, coupon: Coupon, upload, actor) -> CodeBatch:
    """Check and import a CSV now, all of it or nothing (scripts and tests; screens queue it)."""
    batch = code_import_start(coupon=coupon, upload=upload, actor=actor)
    batch = code_import_run(batch_id=batch.pk)
    if batch.status == CodeBatch.Status.FAILED:
        raise ValidationError(batch.error.splitlines())
    return batch
