"""Every write to partners' voucher lists, uploads and codes (SPEC 3.3, 6.2).

Codes leave the pool only through `voucher_assign` / `voucher_assign_bulk`. Uploads are
validated into a report before anything is stored, and processed in one transaction so a
failure leaves the list as it was; progress is written beside it on its own connection.
"""

import datetime
import logging
import tempfile
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from config import code_pool, live_progress, outbox, row_triggers
from vouchers import selectors, upload_files
from vouchers.models import (
    MAX_CODES_PER_LIST,
    DiscardedVoucherList,
    Partner,
    VoucherAssignment,
    VoucherCode,
    VoucherList,
    VoucherListEvent,
    VoucherUpload,
    VoucherUploadProgress,
)

logger = logging.getLogger(__name__)

Status = VoucherList.Status
UploadStatus = VoucherUpload.Status

# Messages the user can act on; tests match them exactly.
ERR_TAG_REQUIRED = "Enter a list tag."
ERR_TAG_SPACES = "The list tag cannot contain spaces."
ERR_TAG_TOO_LONG = "The list tag can be at most 64 characters."
ERR_TAG_TAKEN = "This partner already has a list with the tag “{tag}”."
ERR_EXPIRY_REQUIRED = "Enter an expiry date."
ERR_EXPIRY_PAST = "The expiry date cannot be in the past."
ERR_EXPIRY_BACKWARD = "The expiry date can only be moved later (it is {current})."
ERR_EXPIRY_CLEARED = "The expiry date cannot be removed."
ERR_ARCHIVED_READ_ONLY = "An archived list cannot be changed."
VALIDATE_TASK = "vouchers.upload_validate"
PROCESS_TASK = "vouchers.upload_process"
ERR_VALIDATION_FAILED = "The file could not be validated; upload it again or contact support."
ERR_PAUSE = "Only an active list can be paused."
ERR_ACTIVATE = "Only a paused or expired list can be activated."
ERR_ACTIVATE_EXPIRED = "The list's expiry date has passed. Extend it before activating the list."
ERR_ARCHIVE = "This list is already archived."
ERR_ARCHIVE_LINKED = "This list is used by a scheduled or running campaign ({names}); it cannot be archived."
ERR_UPLOAD_STATUS = "Codes can be uploaded only to an active or paused list."
ERR_UPLOAD_PENDING = "This list is waiting for its first upload; add more codes once that upload is stored."
ERR_PROCESS_NOTHING_STORED = "None of the codes could be stored (they are already in your other lists)."
ERR_CONFIRM_STATUS = "Only an upload awaiting confirmation can be confirmed."
ERR_CONFIRM_NOTHING = "There are no valid codes to store in this file."
ERR_CANCEL_STATUS = "Only an upload awaiting confirmation or still validating can be cancelled."
ERR_PARTNER_INACTIVE = "This partner is inactive."
ERR_LIST_FULL = "This upload would take the list to {total:,} codes; a list holds at most {limit:,}."
ERR_PROCESS_LIST_CLOSED = "The list was archived or expired before the codes could be stored."
ERR_PROCESS_UNEXPECTED = "Processing failed unexpectedly; no codes were stored. Try the upload again."

DUP_FILE_MESSAGE = "Duplicate of line {line} in this file"
DUP_EXISTING_MESSAGE = "Already in list “{tag}”"
DUP_RACE_MESSAGE = "Already in another list of this partner"

# Rows per INSERT … SELECT statement while processing, and per progress update.
PROCESS_CHUNK = 50_000
# Profiles per claim statement: large enough to amortise the round trip, small enough that
# a chunk's row locks are held briefly (bench: 1,000–5,000 is the sweet spot).
ASSIGN_CHUNK = 5_000
# A bulk assignment this large changes the pool enough to refresh planner statistics.
ANALYZE_AFTER_ASSIGNED = 50_000
STAGING_TABLE = "voucher_upload_rows"


class VoucherError(ValidationError):
    """A refusal the user can fix; its message is one of the constants above."""


def _event(voucher_list, actor, action, message="") -> None:
    VoucherListEvent.objects.create(voucher_list=voucher_list, actor=actor, action=action, message=message)


# --- Lists -----------------------------------------------------------------------------


def voucher_list_tag_normalise(tag: str) -> str:
    """The stored form of a list tag: lowercase, no spaces; raises VoucherError otherwise."""
    value = (tag or "").strip().lower()
    if not value:
        raise VoucherError(ERR_TAG_REQUIRED)
    if any(ch.isspace() for ch in value):
        raise VoucherError(ERR_TAG_SPACES)
    if len(value) > 64:
        raise VoucherError(ERR_TAG_TOO_LONG)
    return value


def _check_new_expiry(*, expires_on: datetime.date | None) -> None:
    if expires_on is None:
        raise VoucherError(ERR_EXPIRY_REQUIRED)
    if expires_on < selectors.account_today():
        raise VoucherError(ERR_EXPIRY_PAST)


def voucher_list_create(
    *,
    partner: Partner,
    tag: str,
    name: str,
    expires_on: datetime.date,
    description: str = "",
    low_stock_threshold: int = 100,
    actor=None,
    pending_first_upload: bool = False,
) -> VoucherList:
    """Create a list for a partner; the tag is normalised and unique per partner.

    `pending_first_upload`: the list is created with its first file and stays Pending (not
    offered to campaigns) until that file's codes are stored; if that upload is refused,
    cancelled or fails, the list is removed (`_discard_pending_list`).
    """
    tag = voucher_list_tag_normalise(tag)
    _check_new_expiry(expires_on=expires_on)
    if not partner.is_active:
        raise VoucherError(ERR_PARTNER_INACTIVE)
    try:
        with transaction.atomic():
            voucher_list = VoucherList.objects.create(
                partner=partner,
                tag=tag,
                name=name.strip(),
                description=description.strip(),
                expires_on=expires_on,
                low_stock_threshold=low_stock_threshold,
                created_by=actor,
                status=Status.PENDING if pending_first_upload else Status.ACTIVE,
            )
            _event(voucher_list, actor, VoucherListEvent.Action.CREATED, f"Tag “{tag}”, expires {expires_on:%d %b %Y}")
    except IntegrityError as exc:
        raise VoucherError(ERR_TAG_TAKEN.format(tag=tag)) from exc
    return voucher_list


def voucher_list_update(
    *,
    voucher_list: VoucherList,
    name: str,
    description: str,
    expires_on: datetime.date | None,
    low_stock_threshold: int,
    actor,
) -> VoucherList:
    """Edit name, description, threshold, and extend (never shorten) the expiry date."""
    with transaction.atomic():
        current = VoucherList.objects.select_for_update(no_key=True).get(pk=voucher_list.pk)
        if current.status == Status.ARCHIVED:
            raise VoucherError(ERR_ARCHIVED_READ_ONLY)
        changes = []
        if expires_on != current.expires_on:
            if expires_on is None:
                raise VoucherError(ERR_EXPIRY_CLEARED)
            if current.expires_on is not None and expires_on < current.expires_on:
                raise VoucherError(ERR_EXPIRY_BACKWARD.format(current=f"{current.expires_on:%d %b %Y}"))
            if expires_on < selectors.account_today():
                raise VoucherError(ERR_EXPIRY_PAST)
            before = f"{current.expires_on:%d %b %Y}" if current.expires_on else "never"
            _event(
                current,
                actor,
                VoucherListEvent.Action.EXPIRY_EXTENDED,
                f"Expiry {before} → {expires_on:%d %b %Y}",
            )
            current.expires_on = expires_on
        for field, value in (
            ("name", name.strip()),
            ("description", description.strip()),
            ("low_stock_threshold", low_stock_threshold),
        ):
            if getattr(current, field) != value:
                changes.append(current._meta.get_field(field).verbose_name)
                setattr(current, field, value)
        if changes:
            _event(current, actor, VoucherListEvent.Action.EDITED, "Changed " + ", ".join(changes))
        current.updated_at = timezone.now()
        current.save(
            update_fields=["name", "description", "expires_on", "low_stock_threshold", "updated_at"],
        )
    return current


def _transition(*, voucher_list, actor, from_statuses, to_status, error, action, extra_filter=None) -> VoucherList:
    # A conditional UPDATE: its row count says whether the list was in a state that allows it.
    qs = VoucherList.objects.filter(pk=voucher_list.pk, status__in=from_statuses)
    if extra_filter is not None:
        qs = qs.filter(extra_filter)
    with transaction.atomic():
        if not qs.update(status=to_status, updated_at=timezone.now()):
            raise VoucherError(error)
        _event(voucher_list, actor, action)
    return VoucherList.objects.select_related("partner").get(pk=voucher_list.pk)


def voucher_list_pause(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Active → Paused: campaigns stop giving codes from it."""
    return _transition(
        voucher_list=voucher_list,
        actor=actor,
        from_statuses=[Status.ACTIVE],
        to_status=Status.PAUSED,
        error=ERR_PAUSE,
        action=VoucherListEvent.Action.PAUSED,
    )


def voucher_list_activate(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Paused (or Expired after an extension) → Active; refused while the expiry date has passed."""
    try:
        return _transition(
            voucher_list=voucher_list,
            actor=actor,
            from_statuses=[Status.PAUSED, Status.EXPIRED],
            to_status=Status.ACTIVE,
            error=ERR_ACTIVATE,
            action=VoucherListEvent.Action.ACTIVATED,
            extra_filter=selectors.not_expired_q(),
        )
    except VoucherError:
        status = VoucherList.objects.filter(pk=voucher_list.pk).values_list("status", flat=True).first()
        if status in (Status.PAUSED, Status.EXPIRED):
            raise VoucherError(ERR_ACTIVATE_EXPIRED) from None
        raise


def voucher_list_archive(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Archive a list (final); refused while a scheduled or running campaign uses it."""
    with transaction.atomic():
        current = VoucherList.objects.select_for_update(no_key=True).get(pk=voucher_list.pk)
        if current.status == Status.ARCHIVED:
            raise VoucherError(ERR_ARCHIVE)
        blocking = list(
            selectors.voucher_list_linked_campaigns(
                voucher_list=current, statuses=selectors.CAMPAIGN_BLOCKING_STATUSES
            ).values_list("name", flat=True)[:5]
        )
        if blocking:
            raise VoucherError(ERR_ARCHIVE_LINKED.format(names=", ".join(blocking)))
        VoucherList.objects.filter(pk=current.pk).update(status=Status.ARCHIVED, updated_at=timezone.now())
        # Archived codes leave the partner's duplicate rule: the same code may be uploaded again.
        current.codes.filter(list_archived=False).update(list_archived=True)
        _event(current, actor, VoucherListEvent.Action.ARCHIVED)
    return VoucherList.objects.select_related("partner").get(pk=voucher_list.pk)


def voucher_lists_expire() -> int:
    """Mark Active / Paused lists whose expiry date has passed as Expired; returns how many."""
    today = selectors.account_today()
    with transaction.atomic():
        ids = list(
            VoucherList.objects.select_for_update(skip_locked=True)
            .filter(status__in=[Status.ACTIVE, Status.PAUSED], expires_on__lt=today)
            .values_list("id", flat=True)
        )
        if not ids:
            return 0
        VoucherList.objects.filter(id__in=ids).update(status=Status.EXPIRED, updated_at=timezone.now())
        VoucherListEvent.objects.bulk_create(
            [VoucherListEvent(voucher_list_id=pk, action=VoucherListEvent.Action.EXPIRED) for pk in ids]
        )
    return len(ids)


# --- Uploads ---------------------------------------------------------------------------


def voucher_upload_create(
    *, voucher_list: VoucherList, file, uploaded_by, validate_in_background: bool = False
) -> VoucherUpload:
    """Store an uploaded CSV (not its codes) as Validating; the caller validates it next, or a
    background task does (`validate_in_background`: owed in the same transaction, config/outbox.py)."""
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


def _create_staging_table(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS voucher_upload_rows")
    cursor.execute(
        "CREATE TEMPORARY TABLE voucher_upload_rows "
        "(line integer PRIMARY KEY, code varchar(64) NOT NULL, kind varchar(16) NOT NULL, error text NOT NULL)"
        " ON COMMIT DROP"
    )


def _stage_rows(cursor, rows: Iterable[tuple[int, str, str, str]], *, progress=None) -> str:
    """Load the file's rows into the staging table (COPY); returns the header."""
    header = ""

    def data():
        nonlocal header
        for n, (line, code, kind, error) in enumerate(rows, start=1):
            if kind == "header":
                header = code
                continue
            if progress is not None and n % PROCESS_CHUNK == 0:
                progress(n)
            yield line, code, kind, error

    with cursor.copy("COPY voucher_upload_rows (line, code, kind, error) FROM STDIN") as copy:
        for row in data():
            copy.write_row(row)
    cursor.execute("CREATE INDEX ON voucher_upload_rows (code)")
    cursor.execute("ANALYZE voucher_upload_rows")
    return header


def _mark_duplicates(cursor, *, partner_id: int) -> None:
    """Flag repeats inside the file, then codes already in the partner's non-archived lists."""
    cursor.execute(
        """
        UPDATE voucher_upload_rows SET kind = %s, error = %s || CAST(f.first_line AS text) || %s
        FROM (
            SELECT code, MIN(line) AS first_line FROM voucher_upload_rows
            WHERE kind = %s GROUP BY code HAVING COUNT(*) > 1
        ) AS f
        WHERE voucher_upload_rows.kind = %s AND voucher_upload_rows.code = f.code
          AND voucher_upload_rows.line > f.first_line
        """,
        [
            upload_files.KIND_DUP_FILE,
            DUP_FILE_MESSAGE.split("{line}")[0],
            DUP_FILE_MESSAGE.split("{line}")[1],
            upload_files.KIND_VALID,
            upload_files.KIND_VALID,
        ],
    )
    before, after = DUP_EXISTING_MESSAGE.split("{tag}")
    cursor.execute(
        """
        UPDATE voucher_upload_rows SET kind = %s, error = %s || l.tag || %s
        FROM vouchers_vouchercode AS c JOIN vouchers_voucherlist AS l ON l.id = c.voucher_list_id
        WHERE voucher_upload_rows.kind = %s AND c.partner_id = %s AND c.list_archived = %s
          AND c.code = voucher_upload_rows.code
        """,
        [upload_files.KIND_DUP_EXISTING, before, after, upload_files.KIND_VALID, partner_id, False],
    )


def _kind_counts(cursor) -> dict[str, int]:
    cursor.execute("SELECT kind, COUNT(*) FROM voucher_upload_rows GROUP BY kind")
    return dict(cursor.fetchall())


def _error_file_content(cursor):
    """The error file (line, code, error) streamed to a temporary file; (File or None, rows)."""
    cursor.execute("SELECT line, code, error FROM voucher_upload_rows WHERE kind <> %s ORDER BY line", ["valid"])
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 (closed by the caller's save)
    count = 0
    for line in upload_files.csv_lines([("line", "code", "error")]):
        spool.write(line.encode("utf-8"))
    while rows := cursor.fetchmany(10_000):
        count += len(rows)
        spool.write("".join(upload_files.csv_lines(rows)).encode("utf-8"))
    if not count:
        spool.close()
        return None, 0
    spool.seek(0)
    return File(spool, name="errors.csv"), count


def _drop_staging_table(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS voucher_upload_rows")


def _reject(upload: VoucherUpload, message: str, *, actor=None) -> VoucherUpload:
    with transaction.atomic():
        updated = VoucherUpload.objects.filter(pk=upload.pk, status=UploadStatus.VALIDATING).update(
            status=UploadStatus.FAILED, error_message=message, validated_at=timezone.now(), error_count=0
        )
        if updated:
            _event(
                upload.voucher_list,
                actor or upload.uploaded_by,
                VoucherListEvent.Action.UPLOAD_REJECTED,
                f"{upload.file_name}: {message}",
            )
            _discard_pending_list(
                upload, outcome=DiscardedVoucherList.Outcome.REFUSED, message=message, actor=actor or upload.uploaded_by
            )
    return _current(upload, status=UploadStatus.FAILED, error_message=message)


def _current(upload: VoucherUpload, **gone_fields) -> VoucherUpload:
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


def _discard_pending_list(upload: VoucherUpload, *, outcome: str, message: str, actor) -> bool:
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
            _create_staging_table(cursor)
            with upload.file.open("rb") as raw:
                header = _stage_rows(cursor, upload_files.read_code_rows(raw))
            _mark_duplicates(cursor, partner_id=partner_id)
            counts = _kind_counts(cursor)
            content, error_count = _error_file_content(cursor)
            _drop_staging_table(cursor)
            valid = counts.get(upload_files.KIND_VALID, 0)
            codes_total = (
                VoucherList.objects.filter(pk=upload.voucher_list_id).values_list("codes_total", flat=True).first()
            )
            if codes_total is None:  # a new list discarded meanwhile (its upload was cancelled)
                if content is not None:
                    content.close()
                return _current(upload, status=UploadStatus.CANCELLED)
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
                return _current(upload, status=UploadStatus.CANCELLED)
            _event(
                upload.voucher_list,
                upload.uploaded_by,
                VoucherListEvent.Action.UPLOAD_REJECTED if message else VoucherListEvent.Action.UPLOAD_VALIDATED,
                f"{upload.file_name}: {valid:,} valid of {fields['rows_read']:,} rows"
                + (f" — {message}" if message else ""),
            )
            if message:
                _discard_pending_list(
                    upload, outcome=DiscardedVoucherList.Outcome.REFUSED, message=message, actor=upload.uploaded_by
                )
    except upload_files.FileRejected as exc:
        return _reject(upload, str(exc))
    except Exception:
        # Never left Validating (nor a 500 for the partner): whatever was not foreseen fails the upload.
        logger.exception("Voucher upload %s could not be validated", upload.pk)
        return _reject(upload, ERR_VALIDATION_FAILED)
    return _current(upload, status=UploadStatus.FAILED, error_message=fields["error_message"])


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
        _event(voucher_list, actor, VoucherListEvent.Action.UPLOAD_CONFIRMED, upload.file_name)
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
        _event(upload.voucher_list, actor, VoucherListEvent.Action.UPLOAD_CANCELLED, upload.file_name)
        _discard_pending_list(upload, outcome=DiscardedVoucherList.Outcome.CANCELLED, message="", actor=actor)
    return _current(upload, status=UploadStatus.CANCELLED)


class _ProgressReporter(live_progress.LiveProgress):
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
    return _current(upload, status=UploadStatus.FAILED)


def _process_locked(upload: VoucherUpload, progress) -> None:
    voucher_list = upload.voucher_list
    now = timezone.now()
    with connection.cursor() as cursor:
        _create_staging_table(cursor)
        with upload.file.open("rb") as raw:
            _stage_rows(cursor, upload_files.read_code_rows(raw), progress=progress)
        done = upload.rows_read
        progress(done)
        _mark_duplicates(cursor, partner_id=voucher_list.partner_id)
        cursor.execute("SELECT COALESCE(MAX(line), 0) FROM voucher_upload_rows")
        last_line = cursor.fetchone()[0]
        # The codes' three foreign keys (list, partner, upload) are checked once, by locking
        # those rows as the per-row triggers would, instead of three times per code.
        skip_row_triggers = row_triggers.row_triggers_skippable()
        if skip_row_triggers:
            cursor.execute(
                "SELECT 1 FROM vouchers_voucherlist AS l JOIN vouchers_partner AS p ON p.id = l.partner_id"
                " WHERE l.id = %s FOR KEY SHARE",
                [voucher_list.pk],
            )
        start = 0
        while start < last_line:
            end = start + PROCESS_CHUNK
            # ON CONFLICT absorbs a code a concurrent upload stored after our duplicate check.
            with row_triggers.row_triggers_skipped(cursor, skip=skip_row_triggers):
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
            [upload_files.KIND_DUP_EXISTING, DUP_RACE_MESSAGE, upload_files.KIND_VALID, upload.pk],
        )
        counts = _kind_counts(cursor)
        content, error_count = _error_file_content(cursor)
        _drop_staging_table(cursor)
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
    _event(
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
            _event(
                upload.voucher_list,
                upload.confirmed_by,
                VoucherListEvent.Action.UPLOAD_FAILED,
                f"{upload.file_name}: {message}",
            )
            _discard_pending_list(
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
        _event(voucher_list, actor, VoucherListEvent.Action.UPLOAD_CONFIRMED, upload.file_name)
    upload.refresh_from_db()
    return voucher_upload_process(upload=upload)


# --- Assignment: the only way a code leaves the pool -----------------------------------

# A list's codes as a pool (config/code_pool.py): the claim statement shared with bulk coupons.
# Usable: Active, not past its expiry date (account-local), of an active partner.
POOL = code_pool.Pool(
    owner_table="vouchers_voucherlist",
    owner_column="voucher_list_id",
    code_table="vouchers_vouchercode",
    assignment_table="vouchers_voucherassignment",
    code_column="code_id",
    usable=(
        "o.status = 'active' AND (o.expires_on IS NULL OR o.expires_on >= %(today)s)"
        " AND EXISTS (SELECT 1 FROM vouchers_partner AS p WHERE p.id = o.partner_id AND p.is_active)"
    ),
)


def _assign_chunk(*, skip_row_triggers=False, **kwargs):
    return code_pool.claim_chunk(
        pool=POOL,
        owner_id=kwargs["voucher_list_id"],
        profile_ids=kwargs["profile_ids"],
        campaign_id=kwargs["campaign_id"],
        occurrence=kwargs["occurrence"],
        now=kwargs["now"],
        after=kwargs["after"],
        params={"today": kwargs["today"]},
        skip_row_triggers=skip_row_triggers,
    )


def voucher_assign_bulk(
    *, voucher_list: VoucherList, profile_ids: list[int], campaign, occurrence: str
) -> list[tuple[int, str]]:
    """Give one code each to many profiles, one claiming statement per chunk.

    Returns (profile_id, code) for the profiles newly given a code; profiles that already
    have one for this (list, campaign, occurrence), unknown profile ids, and profiles left
    over when the pool runs out (or the list is not usable) are not in the result.
    """
    context = {
        "voucher_list_id": voucher_list.pk,
        "campaign_id": getattr(campaign, "pk", campaign),
        "occurrence": occurrence,
        "now": timezone.now(),
        "today": selectors.account_today(),
    }
    if row_triggers.row_triggers_skippable():
        context["skip_row_triggers"] = True

    def claim(ids, after):
        return _assign_chunk(profile_ids=ids, after=after, **context)

    given = code_pool.assign_bulk(
        profile_ids=profile_ids,
        chunk_size=ASSIGN_CHUNK,
        claim=claim,
        free_codes_remain=_free_codes_remain(voucher_list),
    )
    if len(given) >= ANALYZE_AFTER_ASSIGNED:
        transaction.on_commit(_analyze_codes)
    return given


def _free_codes_remain(voucher_list: VoucherList):
    # The list's counters move in the transactions that add and give codes: no scan of the pool.
    return lambda: VoucherList.objects.filter(pk=voucher_list.pk, codes_total__gt=F("codes_assigned")).exists()


def voucher_assign_each(
    *, voucher_list: VoucherList, items: list[tuple[int, str]], campaign
) -> dict[tuple[int, str], str]:
    """Give a code to each (profile id, occurrence) item of a live batch with one claim statement.

    Returns {(profile_id, occurrence): code} for every item that holds a code of the list now,
    given by this call or before (idempotent per (list, campaign, profile, occurrence)). When the
    pool runs out (or the list is not usable) the items earlier in `items` have the codes left.
    """
    items = list(dict.fromkeys((int(pid), occ) for pid, occ in items))
    if not items:
        return {}
    campaign_id = getattr(campaign, "pk", campaign)
    now, today = timezone.now(), selectors.account_today()

    claim = code_pool.items_claim(
        pool=POOL, owner_id=voucher_list.pk, campaign_id=campaign_id, now=now, params={"today": today}
    )
    code_pool.assign_each(items=items, claim=claim, free_codes_remain=_free_codes_remain(voucher_list))
    held = VoucherAssignment.objects.filter(
        voucher_list=voucher_list,
        campaign_id=campaign_id,
        profile_id__in={pid for pid, _ in items},
        occurrence__in={occ for _, occ in items},
    ).values_list("profile_id", "occurrence", "code__code")
    wanted = set(items)
    return {(pid, occ): code for pid, occ, code in held if (pid, occ) in wanted}


def _analyze_codes() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE vouchers_vouchercode")


def voucher_assign(*, voucher_list: VoucherList, profile, campaign, occurrence: str) -> VoucherAssignment | None:
    """Give one code to one profile now (live); a repeat returns the first assignment.

    None when the pool is empty or the list is not usable (paused, expired, archived).
    """
    campaign_id = getattr(campaign, "pk", campaign)
    lookup = {"voucher_list": voucher_list, "campaign_id": campaign_id, "profile": profile, "occurrence": occurrence}
    with transaction.atomic():
        existing = VoucherAssignment.objects.filter(**lookup).select_related("code").first()
        if existing is not None:
            return existing
        voucher_assign_bulk(
            voucher_list=voucher_list, profile_ids=[profile.pk], campaign=campaign, occurrence=occurrence
        )
        return VoucherAssignment.objects.filter(**lookup).select_related("code").first()
