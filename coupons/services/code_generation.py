"""A bulk series' codes generated in the background, chunk by chunk, unique within the series."""

import random

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts import outbox
from core import db
from coupons import codegen
from coupons.models import CodeBatch, Coupon, CouponCode
from coupons.services.lifecycle import ERR_ARCHIVED_READ_ONLY, event_record

Status = Coupon.Status


# Big chunks: one statement per chunk, so per-statement overhead is paid 50 times per million.


GENERATE_CHUNK = 250_000
GENERATE_TASK = "coupons.generate_codes"

ERR_NOT_BULK = "Codes can only be added to a bulk code series."
ERR_CAPACITY = (
    "This format can produce only {available:,} more unique codes in this series; "
    "ask for at most {available:,} or use longer codes."
)
ERR_GENERATION_RUNNING = "A code generation is already running for this series; wait for it to finish."

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
        event_record(coupon=coupon, actor=actor, action="generate", message=f"Started generating {label}.")
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
            inserted += insert_codes(coupon=batch.coupon, codes=codes, limit=need, skip_existing_check=sparse)
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
            event_record(
                coupon=batch.coupon,
                actor=batch.created_by,
                action="generated",
                message=f"Generated {batch.done:,} codes.",
            )
            transaction.on_commit(analyze_codes)
        elif batch.status == CodeBatch.Status.FAILED:
            event_record(coupon=batch.coupon, actor=batch.created_by, action="generate_failed", message=batch.error)
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


def insert_codes(
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
        skip_row_triggers = db.row_triggers_skippable()
        if skip_row_triggers:
            db.keys_locked(cursor, ("coupons_coupon", coupon.pk))
        if skip_existing_check:
            # No anti-join against the pool: its cost grew with the series (and with stale
            # statistics the planner chose a nested loop over it: minutes per chunk).
            with db.row_triggers_skipped(cursor, skip=skip_row_triggers):
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
        with db.row_triggers_skipped(cursor, skip=skip_row_triggers):
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
