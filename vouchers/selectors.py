"""Reads for voucher screens, the API and other apps (CONTRACTS.md: vouchers)."""

import datetime
import functools
import operator

from django.db.models import Q, QuerySet, Value
from django.utils import timezone

from accounts.account import account_tzinfo
from vouchers import signals
from vouchers.models import Partner, VoucherAssignment, VoucherCode, VoucherList, VoucherListEvent, VoucherUpload

# Campaign statuses that hold a list: it cannot be archived while one of them links it.
CAMPAIGN_BLOCKING_STATUSES = ("scheduled", "running")


def account_today() -> datetime.date:
    """Today's date in the account timezone (list expiry dates are account-local)."""
    return timezone.now().astimezone(account_tzinfo()).date()


def not_expired_q(*, today: datetime.date | None = None) -> Q:
    today = today or account_today()
    return Q(expires_on__isnull=True) | Q(expires_on__gte=today)


def voucher_list_usable(*, partner: Partner | None = None) -> QuerySet[VoucherList]:
    """Lists campaigns may use: Active, not past their expiry date, of an active partner."""
    qs = VoucherList.objects.filter(not_expired_q(), status=VoucherList.Status.ACTIVE, partner__is_active=True)
    if partner is not None:
        qs = qs.filter(partner=partner)
    return qs.select_related("partner")


def voucher_list_is_usable(*, voucher_list: VoucherList) -> bool:
    return voucher_list_usable().filter(pk=voucher_list.pk).exists()


def voucher_codes_left(*, voucher_list: VoucherList) -> int:
    """Codes still in the pool: read from the list's counters, never by SKIP LOCKED counting."""
    row = VoucherList.objects.filter(pk=voucher_list.pk).values_list("codes_total", "codes_assigned").first()
    return 0 if row is None else row[0] - row[1]


def voucher_list_linked_campaigns(*, voucher_list: VoucherList, statuses=None, limit: int | None = None) -> list:
    """Campaigns that reward from this list, newest first (asked of promotions by signal: vouchers/signals.py)."""
    responses = signals.voucher_list_campaigns.send(
        sender=VoucherList, voucher_list=voucher_list, statuses=statuses, limit=limit
    )
    campaigns = [campaign for _receiver, found in responses for campaign in found]
    return campaigns if limit is None else campaigns[:limit]


def _linked_count_annotation():
    counts = [count for _receiver, count in signals.voucher_list_campaign_count.send(sender=VoucherList)]
    return functools.reduce(operator.add, counts) if counts else Value(0)


def voucher_lists_for_marketer(*, partner_id: int | None = None, status: str = "") -> QuerySet[VoucherList]:
    qs = VoucherList.objects.select_related("partner").annotate(linked_campaigns=_linked_count_annotation())
    if partner_id:
        qs = qs.filter(partner_id=partner_id)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-updated_at", "-id")


def voucher_lists_for_partner(*, partner: Partner) -> QuerySet[VoucherList]:
    """A partner's own lists, newest first; the only list query the partner area uses."""
    return VoucherList.objects.filter(partner=partner).select_related("partner").order_by("-updated_at", "-id")


def voucher_list_uploads(*, voucher_list: VoucherList) -> QuerySet[VoucherUpload]:
    return voucher_list.uploads.select_related("uploaded_by").order_by("-created_at", "-id")


def voucher_list_events(*, voucher_list: VoucherList, limit: int = 50):
    return list(VoucherListEvent.objects.filter(voucher_list=voucher_list).select_related("actor")[:limit])


def voucher_list_codes(*, voucher_list: VoucherList, q: str = "", state: str = "") -> QuerySet[VoucherCode]:
    qs = VoucherCode.objects.filter(voucher_list=voucher_list).select_related(
        "assignment__profile", "assignment__campaign"
    )
    if q:
        qs = qs.filter(code=q)
    if state == "assigned":
        qs = qs.filter(assigned_at__isnull=False)
    elif state == "available":
        qs = qs.filter(assigned_at__isnull=True)
    return qs.order_by("id")


def voucher_list_code_rows(*, voucher_list: VoucherList):
    """(code, status, identity, campaign id, assigned at) for the CSV download, streamed."""
    return (
        VoucherCode.objects.filter(voucher_list=voucher_list)
        .order_by("id")
        .values_list(
            "code", "assigned_at", "assignment__profile__identity", "assignment__campaign_id", "assignment__occurrence"
        )
        .iterator(chunk_size=5000)
    )


def profile_vouchers(*, profile) -> QuerySet[VoucherAssignment]:
    """The profile's partner vouchers, newest first (GET /api/1/promo/vouchers)."""
    return (
        VoucherAssignment.objects.filter(profile=profile)
        .select_related("code", "voucher_list__partner")
        .order_by("-assigned_at", "-id")
    )
