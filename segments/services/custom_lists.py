"""Custom lists (SPEC 2.3): a CSV checked, uploaded and processed in chunks into the list's members."""

import csv
import io
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts import outbox
from core import input_checks
from core.csv_safety import csv_safe
from segments.models import CustomList, CustomListMember, CustomListUpload, Profile

log = logging.getLogger(__name__)


MAX_CSV_BYTES = 50 * 1024 * 1024
CSV_HEADER = ["Type", "Identity"]
ERR_CSV_TOO_LARGE = "The file is larger than 50 MB; split it into smaller lists."
ERR_CSV_EMPTY = "The file is empty: it needs the header Type,Identity and at least one row."
ERR_CSV_NOT_UTF8 = "The file is not UTF-8 text: save it as CSV UTF-8 and upload again."
ERR_CSV_HEADER = 'The first line must be the header "Type,Identity" (found "{found}").'
ERR_CSV_NO_ROWS = "The file has a header but no rows."
ERR_LIST_IN_USE = "This list is used by a scheduled or running campaign ({names}); stop it before replacing the list."
ERR_LIST_NAME_TAKEN = "A custom list with this name already exists."
ROW_BAD_TYPE = 'Type must be "i" (identity)'
ROW_BAD_IDENTITY = "Identity is empty or longer than 256 characters"
ROW_UNKNOWN = "No profile with this identity"
ROW_COLUMNS = "Expected two columns: Type,Identity"
ROW_UNSTORABLE = "Row {reason}"
ERR_CSV_FAILED = "The file could not be processed; upload it again or contact support."
CHUNK_ROWS = 5000
CUSTOM_LIST_TASK = "segments.custom_list_process"

# "Who uses this custom list now?", asked of the apps above segments, which segments never imports
# (tests/test_architecture.py): each receiver returns the names of its scheduled or running users of
# `custom_list` (promotions answers with its campaigns: promotions/receivers.py). Sent synchronously,
# inside the caller's transaction, so the answer sees the caller's locks.
custom_list_users = Signal()


def custom_list_used_by(*, custom_list: CustomList) -> list[str]:
    """The names of what uses the list now (a scheduled or running campaign, however it uses it)."""
    return [name for _, names in custom_list_users.send(sender=CustomList, custom_list=custom_list) for name in names]


def custom_list_in_use(*, custom_list: CustomList) -> bool:
    return bool(custom_list_used_by(custom_list=custom_list))


def csv_check(*, uploaded_file) -> None:
    """Cheap checks before anything is stored: size (before reading), encoding, header, not empty."""
    if uploaded_file.size > MAX_CSV_BYTES:
        raise ValidationError({"file": ERR_CSV_TOO_LARGE})
    if uploaded_file.size == 0:
        raise ValidationError({"file": ERR_CSV_EMPTY})
    uploaded_file.seek(0)
    head = uploaded_file.read(64 * 1024)
    uploaded_file.seek(0)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut at the end of the sample; anything earlier is real.
        if exc.start < len(head) - 4:
            raise ValidationError({"file": ERR_CSV_NOT_UTF8}) from exc
        text = head[: exc.start].decode("utf-8-sig")
    if not text.strip():
        raise ValidationError({"file": ERR_CSV_EMPTY})
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header = [c.strip() for c in next(csv.reader([first_line]), [])]
    if [h.lower() for h in header] != [h.lower() for h in CSV_HEADER]:
        raise ValidationError({"file": ERR_CSV_HEADER.format(found=first_line[:60])})
    if len([line for line in text.splitlines()[1:] if line.strip()]) == 0 and len(head) == uploaded_file.size:
        raise ValidationError({"file": ERR_CSV_NO_ROWS})


def custom_list_upload_start(
    *, uploaded_file, actor, custom_list: CustomList | None = None, name: str = "", description: str = ""
) -> CustomListUpload:
    """Check the CSV, store it and queue its processing; refuses to replace a list in use."""
    csv_check(uploaded_file=uploaded_file)
    if custom_list is not None:
        names = custom_list_used_by(custom_list=custom_list)
        if names:
            raise ValidationError({"file": ERR_LIST_IN_USE.format(names=", ".join(names))})
    with transaction.atomic():
        if custom_list is None:
            if CustomList.objects.filter(name=name).exists():
                raise ValidationError({"name": ERR_LIST_NAME_TAKEN})
            custom_list = CustomList.objects.create(name=name, description=description, created_by=actor)
        upload = CustomListUpload(
            custom_list=custom_list,
            original_name=(uploaded_file.name or "")[:255],
            uploaded_by=actor,
            total_bytes=uploaded_file.size,
        )
        # Server-side file name: never trust the client's.
        upload.file.save(f"list-{custom_list.pk}.csv", uploaded_file, save=False)
        upload.save()
        # Owed with the upload row: a broker down at the commit delays the processing, never loses it.
        outbox.job_enqueue(task=CUSTOM_LIST_TASK, args=[upload.pk])
    return upload


def _rows(fileobj):
    """(row number, Type, Identity or None, problem) for each data row; raises on bad encoding."""
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    next(reader, None)
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            yield reader.line_num, row, None, ROW_COLUMNS
            continue
        kind, identity = row[0].strip(), row[1].strip()
        unstorable = input_checks.text_problem(kind + identity)
        if unstorable:
            yield reader.line_num, row, None, ROW_UNSTORABLE.format(reason=unstorable)
        elif kind.lower() != "i":
            yield reader.line_num, row, None, ROW_BAD_TYPE
        elif not identity or len(identity) > 256:
            yield reader.line_num, row, None, ROW_BAD_IDENTITY
        else:
            yield reader.line_num, row, identity, ""


def custom_list_process(*, upload_id: int) -> CustomListUpload:
    """Read the stored CSV in chunks; replace the list's members in one transaction at the end.

    Never leaves the upload In progress: a failure nobody foresaw marks it Failed (and is logged),
    so the marketer sees it and can upload again instead of watching a list that never finishes.
    """
    upload = CustomListUpload.objects.select_related("custom_list").get(pk=upload_id)
    if upload.status != CustomListUpload.Status.IN_PROGRESS:
        return upload
    try:
        return _custom_list_process(upload)
    except Exception:
        log.exception("Custom list upload %s failed", upload.pk)
        CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
            status=CustomListUpload.Status.FAILED, error=ERR_CSV_FAILED, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload


def _custom_list_process(upload: CustomListUpload) -> CustomListUpload:
    seen: set[str] = set()
    matched_ids: list[int] = []
    counts = {"rows": 0, "matched": 0, "unknown": 0, "duplicate": 0, "invalid": 0}
    errors = io.StringIO()
    writer = csv.writer(errors, quoting=csv.QUOTE_ALL)
    writer.writerow(["Row", "Identity", "Reason"])
    pending: list[tuple[int, str]] = []

    def flush():
        found = dict(Profile.objects.filter(identity__in=[i for _, i in pending]).values_list("identity", "pk"))
        for line, identity in pending:
            if identity in found:
                matched_ids.append(found[identity])
                counts["matched"] += 1
            else:
                counts["unknown"] += 1
                writer.writerow([line, csv_safe(identity), ROW_UNKNOWN])
        pending.clear()

    try:
        with upload.file.open("rb") as fileobj:
            for line, row, identity, problem in _rows(fileobj):
                counts["rows"] += 1
                if problem:
                    counts["invalid"] += 1
                    shown = input_checks.text_display(",".join(row)[:300])
                    writer.writerow([line, csv_safe(shown), problem])
                    continue
                if identity in seen:
                    counts["duplicate"] += 1
                    continue
                seen.add(identity)
                pending.append((line, identity))
                if len(pending) >= CHUNK_ROWS:
                    flush()
                    CustomListUpload.objects.filter(pk=upload.pk).update(
                        processed_bytes=fileobj.tell(), rows=counts["rows"]
                    )
            if pending:
                flush()
    except (UnicodeDecodeError, csv.Error) as exc:
        message = ERR_CSV_NOT_UTF8 if isinstance(exc, UnicodeDecodeError) else f"The file is not valid CSV: {exc}."
        CustomListUpload.objects.filter(pk=upload.pk).update(
            status=CustomListUpload.Status.FAILED, error=message, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload
    if counts["rows"] == 0:
        CustomListUpload.objects.filter(pk=upload.pk).update(
            status=CustomListUpload.Status.FAILED, error=ERR_CSV_NO_ROWS, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload
    with transaction.atomic():
        # Lock the list row so two uploads into one list replace it one after the other.
        custom_list = CustomList.objects.select_for_update().get(pk=upload.custom_list_id)
        # Checked again at the swap: a campaign published while the file was read counts too.
        replacing = custom_list.uploads.filter(status=CustomListUpload.Status.COMPLETED).exists()
        names = custom_list_used_by(custom_list=custom_list) if replacing else []
        if names:
            CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
                status=CustomListUpload.Status.FAILED,
                error=ERR_LIST_IN_USE.format(names=", ".join(names)),
                finished_at=timezone.now(),
            )
            upload.refresh_from_db()
            return upload
        CustomListMember.objects.filter(custom_list=custom_list).delete()
        CustomListMember.objects.bulk_create(
            [CustomListMember(custom_list=custom_list, profile_id=pk) for pk in matched_ids], batch_size=5000
        )
        CustomList.objects.filter(pk=custom_list.pk).update(size=len(matched_ids))
        CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
            status=CustomListUpload.Status.COMPLETED,
            finished_at=timezone.now(),
            processed_bytes=upload.total_bytes,
            error_rows=errors.getvalue() if counts["unknown"] or counts["invalid"] else "",
            **counts,
        )
    upload.refresh_from_db()
    return upload
