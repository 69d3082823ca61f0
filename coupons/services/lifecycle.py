"""A coupon's life: created, edited, moved through its statuses by a person or the status sweep."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from coupons.models import Coupon, CouponEvent

Status = Coupon.Status


ERR_TRANSITION = "A coupon that is {status} cannot be {verb}."
ERR_ENDED_IN_PAST = "The coupon's end time has passed; change it before activating."
ERR_SINGLE_NEEDS_CODE = "A single-code coupon needs its code before it can be activated."
ERR_ARCHIVED_READ_ONLY = "An archived coupon is view-only."


def event_record(*, coupon: Coupon, actor, action: str, message: str) -> None:
    """One line of the coupon's history (who did what, shown on its page)."""
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
        event_record(coupon=coupon, actor=actor, action="created", message=f"Created as {coupon.get_kind_display()}.")
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
            event_record(coupon=locked, actor=actor, action="edited", message=f"Changed {labels}.")
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
        event_record(coupon=current, actor=actor, action=action, message=message)
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
                    event_record(coupon=coupon, actor=None, action="schedule", message=message)
    return moved
