"""Redeeming an assigned code and reverting a redemption, refused with a machine-readable reason."""

from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, Q, When
from django.utils import timezone

from coupons.models import CodeAssignment, Coupon, Redemption

Status = Coupon.Status


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
