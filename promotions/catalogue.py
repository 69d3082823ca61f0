"""The only door from `promotions` to the catalogue apps (SPEC 3, CONTRACTS.md).

Every read of wallets, coupons, vouchers, segments and the event catalogue that the builder
needs goes through these thin functions, so wiring them to the catalogue apps' own selectors
is a change to this one module.
"""

from django.db.models import QuerySet
from django.utils import timezone

from coupons.models import Coupon
from segments.models import CustomListMember, EventDefinition, EventPropertyDefinition, PropertyType, Segment
from vouchers.models import Partner, VoucherList
from wallets.models import Wallet


def active_wallets() -> QuerySet[Wallet]:
    return Wallet.objects.filter(is_active=True).order_by("name")


def available_coupons(kind: str) -> QuerySet[Coupon]:
    """Coupons of `kind` a campaign may hand out (SPEC 3.2 "available")."""
    return Coupon.objects.filter(kind=kind, status=Coupon.Status.ACTIVE).order_by("name")


def coupon_codes_left(coupon: Coupon) -> int | None:
    """Codes a bulk series still has unassigned; None when unknown or unlimited."""
    return None


def active_partners() -> QuerySet[Partner]:
    return Partner.objects.filter(is_active=True).order_by("name")


def usable_voucher_lists(partner: Partner | None) -> QuerySet[VoucherList]:
    """A partner's lists that campaigns may use: Active, not expired, partner active."""
    today = timezone.localdate()
    lists = VoucherList.objects.filter(status=VoucherList.Status.ACTIVE, partner__is_active=True).exclude(
        expires_on__lt=today
    )
    if partner is not None:
        lists = lists.filter(partner=partner)
    return lists.select_related("partner").order_by("name")


def voucher_codes_left(voucher_list: VoucherList) -> int | None:
    return None


def segments() -> QuerySet[Segment]:
    return Segment.objects.order_by("name")


def custom_lists():
    from segments.models import CustomList

    return CustomList.objects.order_by("name")


def audience_estimate(campaign) -> int | None:
    """Approximate audience of a past-behaviour / custom-list campaign; None when not known."""
    if campaign.custom_list_id:
        return CustomListMember.objects.filter(custom_list_id=campaign.custom_list_id).count()
    if campaign.segment_id:
        return Segment.objects.filter(pk=campaign.segment_id).values_list("audience_size", flat=True).first()
    return None


def event_names() -> list[str]:
    return list(EventDefinition.objects.order_by("name").values_list("name", flat=True))


def event_numeric_properties(event_name: str) -> list[str]:
    return list(
        EventPropertyDefinition.objects.filter(event__name=event_name, type=PropertyType.NUMBER)
        .order_by("name")
        .values_list("name", flat=True)
    )


def validate_rules(rules: dict) -> dict:
    """A rule tree as JSON object; the audience app's validator takes over at merge."""
    if not isinstance(rules, dict):
        from django.core.exceptions import ValidationError

        raise ValidationError("Enter the rules as a JSON object.")
    return rules
