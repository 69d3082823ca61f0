"""The builder's door to the catalogue apps: what it reads of them (SPEC 3, CONTRACTS).

Every read of wallets, coupons, vouchers, segments and the event catalogue that the builder
needs goes through these thin functions, each delegating to the owning app's selector, so the
builder never re-implements a catalogue rule (what "available" or "usable" means). The writes
(points credited, codes given) go through `promotions/engine/rewards.py` alone.
"""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from coupons import selectors as coupon_selectors
from coupons.models import Coupon
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments.models import CustomList, CustomListMember, Segment
from vouchers import selectors as voucher_selectors
from vouchers.models import Partner, VoucherList
from wallets.models import Wallet


def active_wallets() -> QuerySet[Wallet]:
    return Wallet.objects.filter(is_active=True).order_by("name")


def available_coupons(kind: str) -> QuerySet[Coupon]:
    """Coupons of `kind` a campaign may hand out (SPEC 3.2 "available")."""
    return coupon_selectors.coupon_available(kind=kind).order_by("name")


def coupon_codes_left(coupon: Coupon) -> int | None:
    """Codes a bulk series still has unassigned; None for an unlimited single code."""
    return coupon_selectors.coupon_codes_left(coupon=coupon)


def active_partners() -> QuerySet[Partner]:
    return Partner.objects.filter(is_active=True).order_by("name")


def usable_voucher_lists(partner: Partner | None) -> QuerySet[VoucherList]:
    """A partner's lists that campaigns may use: Active, not expired, partner active."""
    return voucher_selectors.voucher_list_usable(partner=partner).select_related("partner").order_by("name")


def voucher_codes_left(voucher_list: VoucherList) -> int | None:
    return voucher_selectors.voucher_codes_left(voucher_list=voucher_list)


def segments() -> QuerySet[Segment]:
    return Segment.objects.order_by("name")


def custom_lists() -> QuerySet[CustomList]:
    """Processed lists only: one still reading its first upload is not offered."""
    return segment_selectors.custom_lists_usable()


def audience_rules(campaign) -> dict | None:
    """The rule tree a past-behaviour / custom-list campaign targets, or None if not chosen yet."""
    if campaign.custom_list_id:
        return {"op": "and", "rules": [{"type": "in_custom_list", "custom_list_id": campaign.custom_list_id}]}
    if campaign.segment_id:
        return {"op": "and", "rules": [{"type": "in_segment", "segment_id": campaign.segment_id}]}
    if campaign.rules:
        return campaign.rules
    return None


def audience_estimate(campaign) -> int | None:
    """Approximate audience of a past-behaviour / custom-list campaign; None when not known."""
    if campaign.custom_list_id:
        # A processed list's members are the audience; counting them is exact and cheap.
        return CustomListMember.objects.filter(custom_list_id=campaign.custom_list_id).count()
    rules = audience_rules(campaign)
    if rules is None:
        return None
    try:
        return segment_selectors.audience_estimate(rules=rules)
    except ValidationError:
        return None


def audience_count(campaign) -> int | None:
    """The exact audience of a past-behaviour / custom-list campaign; None when not chosen yet."""
    rules = audience_rules(campaign)
    if rules is None:
        return None
    try:
        return segment_selectors.audience_count(rules=rules)
    except ValidationError:
        return None


def event_names() -> list[str]:
    return segment_selectors.event_names()


def event_numeric_properties(event_name: str) -> list[str]:
    return segment_selectors.event_numeric_properties(event_name=event_name)


def event_properties(event_name: str) -> list[tuple[str, str]]:
    """(property, type) pairs of one catalogued event."""
    return segment_selectors.event_properties(event_name=event_name)


def validate_filters(filters: list) -> list:
    """The audience app's event property filter validator (the shape promotions/engine/live.py reads)."""
    return segment_rules.validate_filters(filters)


def validate_rules(rules: dict) -> dict:
    """The audience app's validator: a clear error per bad rule, the normalised tree back."""
    return segment_rules.validate_rules(rules)
