"""Every write to coupons: lifecycle, code inventory, assignment, redemption.

Assignment (`code_assign`, `code_assign_bulk`) is the only way a code leaves the pool. Its
guarantees rest on the database: `UNIQUE(coupon_code)` on assignments (a code is given once,
ever, across campaigns), `UNIQUE(coupon, COALESCE(campaign, 0), profile, occurrence)`
(idempotency), and the claim statement shared with voucher lists (config/code_pool.py:
`FOR UPDATE SKIP LOCKED`, the counter moved in the same statement).
Lock order everywhere: the coupon row before assignment rows, so redeem and revert never
deadlock with each other.
"""

import logging
import random
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from config import code_pool, live_progress, outbox, row_triggers
from coupons import codegen
from coupons.models import CodeAssignment, CodeBatch, Coupon, CouponCode, CouponEvent, Redemption

logger = logging.getLogger(__name__)

Status = Coupon.Status

# A bulk series' codes as a pool (config/code_pool.py): the claim statement shared with voucher lists.
POOL = code_pool.Pool(
    owner_table="coupons_coupon",
    owner_column="coupon_id",
    code_table="coupons_couponcode",
    assignment_table="coupons_codeassignment",
    code_column="coupon_code_id",
    usable="o.status = 'active' AND o.kind = 'bulk'",
    extra_columns=(
        ("code", "pool.code"),
        ("redeemable_from", "%(start)s"),
        ("expires_at", "%(expires)s"),
        ("redeem_count", "0"),
    ),
)

# Big chunks: one statement per chunk, so per-statement overhead is paid 50 times per million.
ASSIGN_CHUNK = 20_000
GENERATE_CHUNK = 250_000
GENERATE_TASK = "coupons.generate_codes"
IMPORT_TASK = "coupons.import_codes"
# Imports: codes per INSERT (the progress step); files up to this size are checked inside
# the request, so their problems reach the form at once.
IMPORT_CHUNK = 100_000
SYNC_IMPORT_CHECK_BYTES = 2 * 1024 * 1024
# ANALYZE after assignments that move at least this many codes: the claim query's plan
# depends on how many unassigned codes remain (see reliability reference, pitfall 16).
ANALYZE_AFTER = 10_000

# --- messages (tests match them exactly) -----------------------------------------------------
ERR_TRANSITION = "A coupon that is {status} cannot be {verb}."
ERR_ENDED_IN_PAST = "The coupon's end time has passed; change it before activating."
ERR_SINGLE_NEEDS_CODE = "A single-code coupon needs its code before it can be activated."
ERR_ARCHIVED_READ_ONLY = "An archived coupon is view-only."
ERR_NOT_BULK = "Codes can only be added to a bulk code series."
ERR_CAPACITY = (
    "This format can produce only {available:,} more unique codes in this series; "
    "ask for at most {available:,} or use longer codes."
)
ERR_GENERATION_RUNNING = "A code generation is already running for this series; wait for it to finish."
ERR_IMPORT_RACE = "Some codes of the file were added to the series while it was being imported; nothing was stored."
ERR_IMPORT_UNEXPECTED = "The import failed unexpectedly; nothing was stored. Try again."

REFUSAL_NOT_ASSIGNED = "not_assigned"
REFUSAL_NOT_YET = "not_yet_redeemable"
REFUSAL_EXPIRED = "expired"
REFUSAL_ALREADY = "already_redeemed"
REFUSAL_LIMIT = "limit_reached"
REFUSAL_INACTIVE = "coupon_inactive"
REFUSAL_NOT_REDEEMED = "not_redeemed"

REFUSAL_MESSAGES = {
    REFUSAL_NOT_ASSIGNED: "This code is not assigned to this profile.",
    REFUSAL_NOT_YET: "This code is not redeemable yet: it becomes redeemable at {at}.",
    REFUSAL_EXPIRED: "This code expired at {at}.",
    REFUSAL_ALREADY: "This code has already been redeemed.",
    REFUSAL_LIMIT: "This coupon's redemption limit has been reached.",
    REFUSAL_INACTIVE: "This coupon is not active (it is {status}).",
    REFUSAL_NOT_REDEEMED: "This code has not been redeemed, so there is nothing to revert.",
}
# When several copies of a code are held and none is redeemable, report the most useful reason.
_REFUSAL_ORDER = [REFUSAL_NOT_YET, REFUSAL_INACTIVE, REFUSAL_LIMIT, REFUSAL_ALREADY, REFUSAL_EXPIRED]


class RedemptionRefused(Exception):
    """A redeem or revert the API refuses with 409; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _event(*, coupon: Coupon, actor, action: str, message: str) -> None:
    CouponEvent.objects.create(coupon=coupon, actor=actor, action=action, message=message)


# --- create / edit ---------------------------------------------------------------------------

EDITABLE_FIELDS = [
    "name",
    "code",
    "description",
    "terms",
    "discount_label",
    "starts_at",
    "ends_at",
    "expiry_after_value",
    "expiry_after_unit",
    "total_limit",
    "per_user_limit",
    "low_stock_threshold",
]


def coupon_create(*, data: dict, actor) -> Coupon:
    """Create a coupon in Draft from cleaned form data."""
    with transaction.atomic():
        coupon = Coupon.objects.create(
            kind=data["kind"], created_by=actor, **{f: data[f] for f in EDITABLE_FIELDS if f in data}
        )
        _event(coupon=coupon, actor=actor, action="created", message=f"Created as {coupon.get_kind_display()}.")
    return coupon


def coupon_update(*, coupon: Coupon, data: dict, actor) -> Coupon:
    """Save edited fields (never kind, status or counters) and record what changed."""
    with transaction.atomic():
        locked = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
        if locked.status == Status.ARCHIVED:
            raise ValidationError(ERR_ARCHIVED_READ_ONLY)
        changed = [f for f in EDITABLE_FIELDS if f in data and getattr(locked, f) != data[f]]
        for field in changed:
            setattr(locked, field, data[field])
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            labels = ", ".join(str(Coupon._meta.get_field(f).verbose_name) for f in changed)
            _event(coupon=locked, actor=actor, action="edited", message=f"Changed {labels}.")
    return locked


# --- status actions --------------------------------------------------------------------------

# action -> (statuses it may start from, past-tense verb for messages)
TRANSITIONS = {
    "activate": ({Status.DRAFT, Status.PAUSED}, "activated"),
    "pause": ({Status.ACTIVE}, "paused"),
    "end": ({Status.SCHEDULED, Status.ACTIVE, Status.PAUSED}, "ended"),
    "archive": ({Status.DRAFT, Status.SCHEDULED, Status.ACTIVE, Status.PAUSED, Status.ENDED}, "archived"),
}


def coupon_actions(*, coupon: Coupon) -> list[str]:
    """The actions the coupon's current status allows, in display order."""
    return [action for action, (sources, _) in TRANSITIONS.items() if coupon.status in sources]


def coupon_transition(*, coupon: Coupon, action: str, actor, now: datetime | None = None) -> Coupon:
    """Apply a status action; a conditional UPDATE makes a concurrent change lose cleanly."""
    now = now or timezone.now()
    sources, verb = TRANSITIONS[action]
    current = Coupon.objects.get(pk=coupon.pk)
    if current.status not in sources:
        raise ValidationError(ERR_TRANSITION.format(status=current.get_status_display(), verb=verb))
    if action == "activate":
        if current.ends_at and current.ends_at <= now:
            raise ValidationError(ERR_ENDED_IN_PAST)
        if current.kind == Coupon.Kind.SINGLE and not current.code:
            raise ValidationError(ERR_SINGLE_NEEDS_CODE)
        target = Status.SCHEDULED if current.starts_at and current.starts_at > now else Status.ACTIVE
    else:
        target = {"pause": Status.PAUSED, "end": Status.ENDED, "archive": Status.ARCHIVED}[action]
    with transaction.atomic():
        updated = Coupon.objects.filter(pk=coupon.pk, status=current.status).update(status=target, updated_at=now)
        if not updated:
            fresh = Coupon.objects.get(pk=coupon.pk)
            raise ValidationError(ERR_TRANSITION.format(status=fresh.get_status_display(), verb=verb))
        message = f"{Status(current.status).label} → {Status(target).label}."
        _event(coupon=current, actor=actor, action=action, message=message)
    return Coupon.objects.get(pk=coupon.pk)


def coupon_status_sweep(*, now: datetime | None = None) -> int:
    """Scheduled coupons whose start has come become Active; coupons past their end become Ended."""
    now = now or timezone.now()
    moved = 0
    rules = [
        (
            Q(status=Status.SCHEDULED, starts_at__lte=now) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now)),
            Status.ACTIVE,
        ),
        (Q(status__in=[Status.SCHEDULED, Status.ACTIVE, Status.PAUSED], ends_at__lte=now), Status.ENDED),
    ]
    for condition, target in rules:
        for coupon in Coupon.objects.filter(condition):
            with transaction.atomic():
                if Coupon.objects.filter(pk=coupon.pk, status=coupon.status).update(status=target, updated_at=now):
                    moved += 1
                    message = f"{Status(coupon.status).label} → {Status(target).label} (scheduled time reached)."
                    _event(coupon=coupon, actor=None, action="schedule", message=message)
    return moved


# --- code inventory: generation --------------------------------------------------------------


def _matching_codes(*, coupon: Coupon, code_format: str, length: int, prefix: str, suffix: str) -> int:
    regex = codegen.pattern(code_format=code_format, length=length, prefix=prefix, suffix=suffix)
    return CouponCode.objects.filter(coupon=coupon, code__regex=regex).count()


def code_generation_available(*, coupon: Coupon, code_format: str, length: int, prefix: str, suffix: str) -> int:
    """How many more unique codes this format can still add to the series."""
    total = codegen.capacity(code_format=code_format, length=length)
    taken = _matching_codes(coupon=coupon, code_format=code_format, length=length, prefix=prefix, suffix=suffix)
    return max(total - taken, 0)


def code_generation_start(
    *, coupon: Coupon, code_format: str, length: int, prefix: str, suffix: str, count: int, actor, run_now=False
) -> CodeBatch:
    """Check the format can produce `count` more unique codes, then generate them.

    Runs in the background (one chunk per task) unless `run_now` (demo data, tests).
    """
    if coupon.kind != Coupon.Kind.BULK:
        raise ValidationError(ERR_NOT_BULK)
    if coupon.status == Status.ARCHIVED:
        raise ValidationError(ERR_ARCHIVED_READ_ONLY)
    if coupon.batches.filter(status__in=[CodeBatch.Status.PENDING, CodeBatch.Status.RUNNING]).exists():
        raise ValidationError(ERR_GENERATION_RUNNING)
    available = code_generation_available(
        coupon=coupon, code_format=code_format, length=length, prefix=prefix, suffix=suffix
    )
    if count > available:
        raise ValidationError(ERR_CAPACITY.format(available=available), code="capacity")
    with transaction.atomic():
        batch = CodeBatch.objects.create(
            coupon=coupon,
            source=CodeBatch.Source.GENERATED,
            code_format=code_format,
            length=length,
            prefix=prefix,
            suffix=suffix,
            requested=count,
            created_by=actor,
        )
        label = f"{count:,} {CodeBatch.Format(code_format).label.lower()} codes of length {length}"
        if prefix or suffix:
            label += f" (prefix “{prefix}”, suffix “{suffix}”)"
        _event(coupon=coupon, actor=actor, action="generate", message=f"Started generating {label}.")
        if not run_now:
            outbox.job_enqueue(task=GENERATE_TASK, args=[batch.pk])
    if run_now:
        while code_generation_step(batch_id=batch.pk):
            pass
        batch.refresh_from_db()
    return batch


def code_generation_step(*, batch_id: int) -> bool:
    """Add up to one chunk of codes to a generation batch; True while more remain.

    The batch row is locked for the chunk, so a task delivered twice waits and then finds
    the work done; codes and the progress counter commit together.
    """
    with transaction.atomic():
        batch = CodeBatch.objects.select_for_update().select_related("coupon").get(pk=batch_id)
        if batch.status in (CodeBatch.Status.COMPLETED, CodeBatch.Status.FAILED):
            return False
        want = min(GENERATE_CHUNK, batch.requested - batch.done)
        inserted = 0
        params = {
            "code_format": batch.code_format,
            "length": batch.length,
            "prefix": batch.prefix,
            "suffix": batch.suffix,
        }
        for _ in range(20):
            need = want - inserted
            if need <= 0:
                break
            codes, sparse = _candidates(batch=batch, need=need)
            inserted += _insert_codes(coupon=batch.coupon, codes=codes, limit=need, skip_existing_check=sparse)
        if inserted < want:
            available = code_generation_available(coupon=batch.coupon, **params)
            batch.status = CodeBatch.Status.FAILED
            batch.error = ERR_CAPACITY.format(available=available)
        batch.done += inserted
        if batch.status != CodeBatch.Status.FAILED:
            batch.status = CodeBatch.Status.COMPLETED if batch.done >= batch.requested else CodeBatch.Status.RUNNING
        if batch.status != CodeBatch.Status.RUNNING:
            batch.finished_at = timezone.now()
        batch.save(update_fields=["done", "status", "error", "finished_at"])
        Coupon.objects.filter(pk=batch.coupon_id).update(codes_total=F("codes_total") + inserted)
        if batch.status == CodeBatch.Status.COMPLETED:
            _event(
                coupon=batch.coupon,
                actor=batch.created_by,
                action="generated",
                message=f"Generated {batch.done:,} codes.",
            )
            transaction.on_commit(analyze_codes)
        elif batch.status == CodeBatch.Status.FAILED:
            _event(coupon=batch.coupon, actor=batch.created_by, action="generate_failed", message=batch.error)
        return batch.status == CodeBatch.Status.RUNNING


def _candidates(*, batch: CodeBatch, need: int) -> tuple[list[str], bool]:
    """Codes to try, and whether the format is sparse (random draws; repeats are rare)."""
    params = {"code_format": batch.code_format, "length": batch.length, "prefix": batch.prefix, "suffix": batch.suffix}
    total = codegen.capacity(code_format=batch.code_format, length=batch.length)
    coupon = batch.coupon
    coupon.refresh_from_db(fields=["codes_total"])
    if (coupon.codes_total + need) * 4 < total:
        # Sparse format: random draws rarely collide; the insert drops the few that do.
        return codegen.random_codes(count=need, **params), True
    # Dense format: draw distinct numbers, enough that `need` of them must be new.
    taken = _matching_codes(coupon=coupon, **params)
    sample = random.SystemRandom().sample(range(total), min(total, need + taken))
    return [codegen.enumerate_code(number=n, **params) for n in sample], False


def _insert_codes(
    *, coupon: Coupon, codes: list[str], limit: int | None = None, skip_existing_check: bool = False
) -> int:
    """Insert codes new to the series (at most `limit`), set-based; returns how many went in.

    `skip_existing_check` (random codes of a sparse format): insert the first `limit` codes
    and let ON CONFLICT drop the rare repeat, so the caller tops up the shortfall; otherwise
    codes already in the series are filtered out first, so exactly `limit` new ones go in.
    """
    if not codes:
        return 0
    with connection.cursor() as cursor:
        # A session-lifetime staging table, emptied at each commit; `n` keeps the file order.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS coupon_code_stage (n bigserial, code text) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE coupon_code_stage")
        with cursor.cursor.copy("COPY coupon_code_stage (code) FROM STDIN") as copy:
            for code in codes:
                copy.write_row((code,))
        # The codes' one foreign key (the coupon) is checked once, by locking the coupon row as
        # the per-row trigger would, instead of once per code (a third of the insert's time).
        skip_row_triggers = row_triggers.row_triggers_skippable()
        if skip_row_triggers:
            row_triggers.keys_locked(cursor, ("coupons_coupon", coupon.pk))
        if skip_existing_check:
            # No anti-join against the pool: its cost grew with the series (and with stale
            # statistics the planner chose a nested loop over it: minutes per chunk).
            with row_triggers.row_triggers_skipped(cursor, skip=skip_row_triggers):
                cursor.execute(
                    """
                    INSERT INTO coupons_couponcode (coupon_id, code)
                    SELECT %s, code FROM coupon_code_stage ORDER BY n LIMIT %s
                    ON CONFLICT (coupon_id, code) DO NOTHING
                    """,
                    [coupon.pk, limit if limit is not None else len(codes)],
                )
                return cursor.rowcount
        # Temp tables get no autovacuum statistics; without them the plan below is a guess.
        cursor.execute("ANALYZE coupon_code_stage")
        with row_triggers.row_triggers_skipped(cursor, skip=skip_row_triggers):
            cursor.execute(
                """
                INSERT INTO coupons_couponcode (coupon_id, code)
                SELECT %s, t.code FROM (SELECT code, min(n) AS n FROM coupon_code_stage GROUP BY code) t
                WHERE NOT EXISTS (SELECT 1 FROM coupons_couponcode c WHERE c.coupon_id = %s AND c.code = t.code)
                ORDER BY t.n
                LIMIT %s
                ON CONFLICT (coupon_id, code) DO NOTHING
                """,
                [coupon.pk, coupon.pk, limit if limit is not None else len(codes)],
            )
            return cursor.rowcount


def analyze_codes() -> None:
    """Refresh planner statistics of the code pool after a bulk load or bulk assignment."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_couponcode")


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
        _event(coupon=coupon, actor=actor, action="import", message=f"Started importing codes from {batch.file_name}.")
        outbox.job_enqueue(task=IMPORT_TASK, args=[batch.pk])
    return batch


class _ImportRefused(Exception):
    pass


def code_import_run(*, batch_id: int) -> CodeBatch:
    """Store an import's codes, all of the file or nothing; safe to run twice.

    The codes go in with one transaction (chunks of IMPORT_CHUNK, progress written beside
    it: config/live_progress.py); a problem found now (a bad file, codes another import or
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
    progress = live_progress.LiveProgress(
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
        added = _insert_codes(coupon=coupon, codes=part, skip_existing_check=True)
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
    _event(
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
            _event(
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


# --- assignment ------------------------------------------------------------------------------


def _validity(*, coupon: Coupon, assigned_at: datetime, redeemable_from: datetime | None):
    start = redeemable_from or assigned_at
    after = coupon.expiry_after
    return start, (start + after if after else None)


def code_assign(
    *, coupon: Coupon, profile, campaign, occurrence: str, redeemable_from: datetime | None = None
) -> CodeAssignment | None:
    """Give one profile a code (live distribution). Idempotent per (coupon, campaign, profile, occurrence).

    Returns the assignment (the existing one on a repeat), or None when the coupon is not
    Active, its codes are exhausted or its total limit is reached.
    """
    key = {"coupon": coupon, "campaign": campaign, "profile": profile, "occurrence": occurrence}
    existing = CodeAssignment.objects.filter(**key).first()
    if existing:
        return existing
    code_assign_bulk(
        coupon=coupon,
        profile_ids=[profile.pk],
        campaign=campaign,
        occurrence=occurrence,
        redeemable_from=redeemable_from,
    )
    return CodeAssignment.objects.filter(**key).first()


def code_assign_bulk(
    *, coupon: Coupon, profile_ids: list[int], campaign, occurrence: str, redeemable_from: datetime | None = None
) -> list[tuple[int, str]]:
    """Give codes to many profiles, one set-based statement per chunk.

    Returns (profile_id, code) for the profiles newly given a code; profiles that already
    hold one for this (campaign, occurrence) and unknown profile ids are skipped, and when
    codes (or the single code's total limit) run out the rest get nothing.
    """
    now = timezone.now()
    start, expires = _validity(coupon=coupon, assigned_at=now, redeemable_from=redeemable_from)
    campaign_id = campaign.pk if campaign is not None else None
    if coupon.kind == Coupon.Kind.SINGLE:
        ids = list(dict.fromkeys(int(pid) for pid in profile_ids))
        given: list[tuple[int, str]] = []
        for first in range(0, len(ids), ASSIGN_CHUNK):
            chunk = ids[first : first + ASSIGN_CHUNK]
            with transaction.atomic():
                given += _assign_single(coupon, chunk, campaign_id, occurrence, now, start, expires)
        return given
    context = {"campaign_id": campaign_id, "occurrence": occurrence, "now": now}
    skip_row_triggers = row_triggers.row_triggers_skippable()

    def claim(ids, after):
        return code_pool.claim_chunk(
            pool=POOL,
            owner_id=coupon.pk,
            profile_ids=ids,
            after=after,
            params={"start": start, "expires": expires},
            skip_row_triggers=skip_row_triggers,
            **context,
        )

    given = code_pool.assign_bulk(
        profile_ids=profile_ids, chunk_size=ASSIGN_CHUNK, claim=claim, free_codes_remain=_free_codes_remain(coupon)
    )
    if len(given) >= ANALYZE_AFTER:
        transaction.on_commit(analyze_codes)
    return given


def _free_codes_remain(coupon: Coupon):
    # The series' counters move in the transactions that add and give codes: no scan of the pool.
    return lambda: Coupon.objects.filter(pk=coupon.pk, codes_total__gt=F("codes_assigned")).exists()


def code_assign_each(
    *, coupon: Coupon, items: list[tuple[int, str]], campaign, redeemable_from: datetime | None = None
) -> dict[tuple[int, str], str]:
    """Give a code to each (profile id, occurrence) item of a live batch, set-based: one claim
    statement for the batch (bulk series), or one insert (single code). Returns
    {(profile_id, occurrence): code} for every item that holds a code now, given by this call or
    before (idempotent per (coupon, campaign, profile, occurrence)). When codes (or the single
    code's total limit) run out, the items earlier in `items` have them.
    """
    items = list(dict.fromkeys((int(pid), occ) for pid, occ in items))
    if not items:
        return {}
    now = timezone.now()
    start, expires = _validity(coupon=coupon, assigned_at=now, redeemable_from=redeemable_from)
    campaign_id = campaign.pk if campaign is not None else None
    if coupon.kind == Coupon.Kind.SINGLE:
        with transaction.atomic():
            _assign_single_each(coupon, items, campaign_id, now, start, expires)
    else:
        claim = code_pool.items_claim(
            pool=POOL, owner_id=coupon.pk, campaign_id=campaign_id, now=now, params={"start": start, "expires": expires}
        )
        code_pool.assign_each(items=items, claim=claim, free_codes_remain=_free_codes_remain(coupon))
    held = CodeAssignment.objects.filter(
        coupon=coupon,
        campaign_id=campaign_id,
        profile_id__in={pid for pid, _ in items},
        occurrence__in={occ for _, occ in items},
    ).values_list("profile_id", "occurrence", "code")
    wanted = set(items)
    return {(pid, occ): code for pid, occ, code in held if (pid, occ) in wanted}


def _assign_single_each(coupon, items, campaign_id, now, start, expires) -> list[tuple[int, str, str]]:
    """The shared code to each (profile id, occurrence) item not holding it yet, up to the total
    limit, in item order; returns (profile id, occurrence, code) for the items given it now.

    Every copy of a shared code counts against the total limit, so the coupon row is the one
    shared counter: lock it, hand out at most what is left, move the counter."""
    locked = Coupon.objects.select_for_update(no_key=True).get(pk=coupon.pk)
    if locked.status != Status.ACTIVE:
        return []
    held = set(
        CodeAssignment.objects.filter(
            coupon=coupon,
            campaign_id=campaign_id,
            profile_id__in={pid for pid, _ in items},
            occurrence__in={occ for _, occ in items},
        ).values_list("profile_id", "occurrence")
    )
    want = [item for item in items if item not in held]
    if locked.total_limit is not None:
        want = want[: max(locked.total_limit - locked.codes_assigned, 0)]
    if not want:
        return []
    CodeAssignment.objects.bulk_create(
        CodeAssignment(
            coupon=coupon,
            code=locked.code,
            profile_id=pid,
            campaign_id=campaign_id,
            occurrence=occurrence,
            assigned_at=now,
            redeemable_from=start,
            expires_at=expires,
        )
        for pid, occurrence in want
    )
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=F("codes_assigned") + len(want))
    return [(pid, occurrence, locked.code) for pid, occurrence in want]


def _assign_single(coupon, profile_ids, campaign_id, occurrence, now, start, expires):
    """The shared code to `profile_ids` for one occurrence: [(profile id, code)] given now."""
    items = [(pid, occurrence) for pid in profile_ids]
    given = _assign_single_each(coupon, items, campaign_id, now, start, expires)
    return [(pid, code) for pid, _, code in given]


# --- redemption ------------------------------------------------------------------------------


def _refuse(reason: str, **fmt) -> RedemptionRefused:
    return RedemptionRefused(reason, REFUSAL_MESSAGES[reason].format(**fmt))


def _refusal_for(assignment: CodeAssignment, now: datetime) -> RedemptionRefused | None:
    coupon = assignment.coupon
    if coupon.status != Status.ACTIVE or (coupon.ends_at and coupon.ends_at <= now):
        status = Status(coupon.status).label if coupon.status != Status.ACTIVE else "Ended"
        return _refuse(REFUSAL_INACTIVE, status=status)
    if now < assignment.redeemable_from:
        return _refuse(REFUSAL_NOT_YET, at=assignment.redeemable_from.isoformat())
    if assignment.expires_at is not None and now >= assignment.expires_at:
        return _refuse(REFUSAL_EXPIRED, at=assignment.expires_at.isoformat())
    per_copy = _per_copy_limit(coupon)
    if per_copy is not None and assignment.redeem_count >= per_copy:
        return _refuse(REFUSAL_ALREADY if per_copy == 1 else REFUSAL_LIMIT)
    if (
        coupon.total_limit is not None
        and coupon.kind == Coupon.Kind.SINGLE
        and coupon.codes_redeemed >= coupon.total_limit
    ):
        return _refuse(REFUSAL_LIMIT)
    return None


def _per_copy_limit(coupon: Coupon) -> int | None:
    # Bulk codes are one-time; a single code's copy may be redeemed up to the per-user limit
    # (None = unlimited).
    return 1 if coupon.kind == Coupon.Kind.BULK else coupon.per_user_limit


def coupon_redeem(*, profile, code: str, now: datetime | None = None) -> CodeAssignment:
    """Redeem a code the profile holds; raises RedemptionRefused with the reason."""
    now = now or timezone.now()
    held = list(
        CodeAssignment.objects.select_related("coupon")
        .filter(profile=profile, code=code)
        .order_by(F("expires_at").asc(nulls_last=True), "assigned_at", "pk")
    )
    if not held:
        raise _refuse(REFUSAL_NOT_ASSIGNED)
    refusals = []
    for assignment in held:
        refusal = _refusal_for(assignment, now)
        if refusal is None:
            try:
                with transaction.atomic():
                    _redeem_one(assignment, now)
            except _LostRace:
                # Someone else changed the coupon or the copy first: say why, from fresh rows.
                assignment.refresh_from_db()
                assignment.coupon.refresh_from_db()
                refusal = _refusal_for(assignment, now) or _refuse(REFUSAL_ALREADY)
            else:
                assignment.refresh_from_db()
                return assignment
        refusals.append(refusal)
    raise min(refusals, key=lambda r: _REFUSAL_ORDER.index(r.reason))


class _LostRace(Exception):
    pass


def _redeem_one(assignment: CodeAssignment, now: datetime) -> None:
    coupon = assignment.coupon
    counted = (
        Coupon.objects.filter(pk=coupon.pk, status=Status.ACTIVE)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .filter(Q(total_limit__isnull=True) | Q(codes_redeemed__lt=F("total_limit")) | Q(kind=Coupon.Kind.BULK))
        .update(codes_redeemed=F("codes_redeemed") + 1)
    )
    if not counted:
        raise _LostRace
    per_copy = _per_copy_limit(coupon)
    under_limit = Q() if per_copy is None else Q(redeem_count__lt=per_copy)
    redeemed = (
        CodeAssignment.objects.filter(under_limit, pk=assignment.pk, redeemable_from__lte=now)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .update(redeem_count=F("redeem_count") + 1, redeemed_at=now)
    )
    if not redeemed:
        raise _LostRace  # rolls back the coupon counter moved above
    Redemption.objects.create(
        assignment=assignment,
        coupon=coupon,
        profile_id=assignment.profile_id,
        code=assignment.code,
        kind=Redemption.Kind.REDEEM,
        created_at=now,
    )


def coupon_revert(*, profile, code: str, now: datetime | None = None) -> CodeAssignment:
    """Undo the latest redemption of a code the profile holds; raises RedemptionRefused."""
    now = now or timezone.now()
    held = list(
        CodeAssignment.objects.filter(profile=profile, code=code).order_by(
            F("redeemed_at").desc(nulls_last=True), "-pk"
        )
    )
    if not held:
        raise _refuse(REFUSAL_NOT_ASSIGNED)
    for assignment in held:
        with transaction.atomic():
            Coupon.objects.select_for_update(no_key=True).get(pk=assignment.coupon_id)
            undone = CodeAssignment.objects.filter(pk=assignment.pk, redeem_count__gt=0).update(
                redeem_count=F("redeem_count") - 1,
                redeemed_at=Case(When(redeem_count=1, then=None), default=F("redeemed_at")),
            )
            if not undone:
                continue
            Coupon.objects.filter(pk=assignment.coupon_id, codes_redeemed__gt=0).update(
                codes_redeemed=F("codes_redeemed") - 1
            )
            Redemption.objects.create(
                assignment=assignment,
                coupon_id=assignment.coupon_id,
                profile_id=assignment.profile_id,
                code=assignment.code,
                kind=Redemption.Kind.REVERT,
                created_at=now,
            )
        assignment.refresh_from_db()
        return assignment
    raise _refuse(REFUSAL_NOT_REDEEMED)
