"""Codes assigned to profiles (the only way a code leaves the pool), one, in bulk or each with its own occurrence."""

from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from codes import pool
from core import db
from coupons.models import CodeAssignment, Coupon
from coupons.services.code_generation import analyze_codes

Status = Coupon.Status


# A bulk series' codes as a pool (codes/pool.py): the claim statement shared with voucher lists.
POOL = pool.Pool(
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

# ANALYZE after assignments that move at least this many codes: the claim query's plan
# depends on how many unassigned codes remain (see reliability reference, pitfall 16).
ANALYZE_AFTER = 10_000

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
    skip_row_triggers = db.row_triggers_skippable()

    def claim(ids, after):
        return pool.claim_chunk(
            pool=POOL,
            owner_id=coupon.pk,
            profile_ids=ids,
            after=after,
            params={"start": start, "expires": expires},
            skip_row_triggers=skip_row_triggers,
            **context,
        )

    given = pool.assign_bulk(
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
        claim = pool.items_claim(
            pool=POOL, owner_id=coupon.pk, campaign_id=campaign_id, now=now, params={"start": start, "expires": expires}
        )
        pool.assign_each(items=items, claim=claim, free_codes_remain=_free_codes_remain(coupon))
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
