"""Reads for the coupon screens, the API and other apps (the campaign builder, distribution)."""

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from coupons.models import CodeAssignment, CodeBatch, Coupon, CouponCode, CouponEvent

Status = Coupon.Status

AVAILABLE_TAB_STATUSES = [Status.DRAFT, Status.SCHEDULED, Status.ACTIVE, Status.PAUSED]
ARCHIVED_TAB_STATUSES = [Status.ENDED, Status.ARCHIVED]


def coupon_available(*, kind: str | None = None) -> QuerySet[Coupon]:
    """Coupons a campaign may use (SPEC 3.2): Active, and codes or total limit not used up."""
    coupons = Coupon.objects.filter(status=Status.ACTIVE).filter(
        Q(kind=Coupon.Kind.BULK, codes_assigned__lt=F("codes_total"))
        | Q(kind=Coupon.Kind.SINGLE, total_limit__isnull=True)
        | Q(kind=Coupon.Kind.SINGLE, codes_assigned__lt=F("total_limit"))
    )
    if kind:
        coupons = coupons.filter(kind=kind)
    return coupons.order_by("name", "pk")


def coupon_codes_left(*, coupon: Coupon) -> int | None:
    """Codes (bulk) or copies (single, total limit) still to give; None = unlimited single code."""
    return Coupon.objects.get(pk=coupon.pk).codes_left


def coupon_list(*, tab: str = "available") -> QuerySet[Coupon]:
    """The list page's rows; counters live on the coupon row, so no per-row queries."""
    statuses = ARCHIVED_TAB_STATUSES if tab == "archived" else AVAILABLE_TAB_STATUSES
    return Coupon.objects.filter(status__in=statuses).order_by("-created_at", "-pk")


def coupon_codes(*, coupon: Coupon) -> QuerySet:
    """The codes table: bulk codes with their holder, or the copies of a single code."""
    if coupon.kind == Coupon.Kind.BULK:
        return (
            CouponCode.objects.filter(coupon=coupon)
            .select_related("assignment__profile", "assignment__campaign")
            .order_by("pk")
        )
    return coupon_assignments(coupon=coupon)


def coupon_assignments(*, coupon: Coupon) -> QuerySet[CodeAssignment]:
    return CodeAssignment.objects.filter(coupon=coupon).select_related("profile", "campaign").order_by("-pk")


def coupon_export_rows(*, coupon: Coupon):
    """Rows for the CSV download, streamed from the database in chunks."""
    if coupon.kind == Coupon.Kind.BULK:
        rows = (
            CouponCode.objects.filter(coupon=coupon)
            .order_by("pk")
            .values_list(
                "code",
                "assigned_at",
                "assignment__profile__identity",
                "assignment__campaign__name",
                "assignment__occurrence",
                "assignment__redeemable_from",
                "assignment__expires_at",
                "assignment__redeem_count",
                "assignment__redeemed_at",
            )
        )
    else:
        rows = (
            CodeAssignment.objects.filter(coupon=coupon)
            .order_by("pk")
            .values_list(
                "code",
                "assigned_at",
                "profile__identity",
                "campaign__name",
                "occurrence",
                "redeemable_from",
                "expires_at",
                "redeem_count",
                "redeemed_at",
            )
        )
    return rows.iterator(chunk_size=5000)


def coupon_history(*, coupon: Coupon, limit: int = 100) -> QuerySet[CouponEvent]:
    return coupon.events.select_related("actor").order_by("-created_at", "-pk")[:limit]


def coupon_batches(*, coupon: Coupon, limit: int = 10) -> QuerySet[CodeBatch]:
    return coupon.batches.select_related("created_by").order_by("-created_at", "-pk")[:limit]


def coupon_running_batch(*, coupon: Coupon) -> CodeBatch | None:
    return (
        coupon.batches.filter(status__in=[CodeBatch.Status.PENDING, CodeBatch.Status.RUNNING]).order_by("-pk").first()
    )


def coupon_tray(*, profile) -> list[dict]:
    """The profile's coupon tray for the API, newest first."""
    now = timezone.now()
    records = []
    assignments = (
        CodeAssignment.objects.filter(profile=profile)
        .select_related("coupon", "campaign")
        .order_by("-assigned_at", "-pk")
    )
    for a in assignments:
        coupon = a.coupon
        limit = 1 if coupon.kind == Coupon.Kind.BULK else coupon.per_user_limit
        redeemable = (
            coupon.status == Status.ACTIVE
            and (coupon.ends_at is None or coupon.ends_at > now)
            and a.redeemable_from <= now
            and (a.expires_at is None or a.expires_at > now)
            and (limit is None or a.redeem_count < limit)
            and (
                coupon.kind == Coupon.Kind.BULK
                or coupon.total_limit is None
                or coupon.codes_redeemed < coupon.total_limit
            )
        )
        records.append(
            {
                "code": a.code,
                "couponId": coupon.pk,
                "couponName": coupon.name,
                "couponType": coupon.kind,
                "description": coupon.description,
                "terms": coupon.terms,
                "discountLabel": coupon.discount_label,
                "campaignId": a.campaign_id,
                "campaignName": a.campaign.name if a.campaign else None,
                "assignedAt": a.assigned_at.isoformat(),
                "redeemableFrom": a.redeemable_from.isoformat(),
                "expiresAt": a.expires_at.isoformat() if a.expires_at else None,
                "redeemedAt": a.redeemed_at.isoformat() if a.redeemed_at else None,
                "redemptions": a.redeem_count,
                "redeemable": redeemable,
            }
        )
    return records
