"""Codes assigned to profiles from a list's pool: the only way a code leaves it."""

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from codes import pool
from core import db
from vouchers import selectors
from vouchers.models import VoucherAssignment, VoucherList

# Profiles per claim statement: large enough to amortise the round trip, small enough that
# a chunk's row locks are held briefly (bench: 1,000–5,000 is the sweet spot).
ASSIGN_CHUNK = 5_000
# A bulk assignment this large changes the pool enough to refresh planner statistics.
ANALYZE_AFTER_ASSIGNED = 50_000

# --- Assignment: the only way a code leaves the pool -----------------------------------

# A list's codes as a pool (codes/pool.py): the claim statement shared with bulk coupons.
# Usable: Active, not past its expiry date (account-local), of an active partner.
POOL = pool.Pool(
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
    return pool.claim_chunk(
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
    if db.row_triggers_skippable():
        context["skip_row_triggers"] = True

    def claim(ids, after):
        return _assign_chunk(profile_ids=ids, after=after, **context)

    given = pool.assign_bulk(
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

    claim = pool.items_claim(
        pool=POOL, owner_id=voucher_list.pk, campaign_id=campaign_id, now=now, params={"today": today}
    )
    pool.assign_each(items=items, claim=claim, free_codes_remain=_free_codes_remain(voucher_list))
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
