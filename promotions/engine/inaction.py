"""Live inaction (SPEC 6.4): the pending checks that matching created for event A, settled when due.

A due check whose event B did not arrive between A and the due time (and, with a constant
property, B did not carry A's value) is granted as occurrence "check:<id>"; the others are
discarded. The live sweep (`promotions.engine.sweeps`) calls `inaction_checks_process`.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from promotions.engine import grants, limits
from promotions.models import Campaign, InactionCheck
from segments import selectors as segment_selectors
from segments.models import Event, Profile

C = Campaign
SWEEP_BATCH = 1_000


def _b_arrived(campaign: Campaign) -> Exists:
    """Whether event B arrived between A and the check's due time (by the events' own time)."""
    b = Event.objects.filter(
        profile_id=OuterRef("profile_id"),
        name=campaign.inaction_event_b,
        occurred_at__gte=OuterRef("a_occurred_at"),
        occurred_at__lte=OuterRef("due_at"),
    ).exclude(pk=OuterRef("event_a_id"))
    if campaign.constant_property:
        b = b.annotate(_constant=KeyTransform(campaign.constant_property, "properties")).filter(
            _constant=OuterRef("constant_value")
        )
    return Exists(b)


def _inaction_batch(campaign_id: int, now: datetime.datetime, limit: int) -> int:
    """One batch of a campaign's due checks in one transaction; returns how many were claimed."""
    with transaction.atomic():
        campaign = grants.lock_campaign(campaign_id)
        if campaign is None:
            return 0
        checks = list(
            InactionCheck.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=InactionCheck.Status.PENDING, due_at__lte=now)
            .annotate(b_arrived=_b_arrived(campaign))
            .order_by("due_at", "pk")[:limit]
        )
        if not checks:
            return 0
        if campaign.status not in (C.Status.PAUSED, C.Status.STOPPED) and not grants.is_live_now(campaign, now):
            InactionCheck.objects.filter(pk__in=[c.pk for c in checks]).update(
                status=InactionCheck.Status.CANCELLED, processed_at=now
            )
            return len(checks)
        due = [c for c in checks if not c.b_arrived]
        if due and isinstance(campaign.past_filter, dict) and campaign.past_filter.get("rules"):
            keep = _past_filter_keep(campaign, due, now)
            due = [c for c in due if c.pk in keep]
        due_ids = {c.pk for c in due}
        grants.grant_items_locked(
            campaign=campaign,
            items=[limits.Item(profile_id=c.profile_id, occurrence=c.occurrence, at=c.due_at) for c in due],
            now=now,
        )
        InactionCheck.objects.filter(pk__in=sorted(due_ids)).update(
            status=InactionCheck.Status.REWARDED, processed_at=now
        )
        InactionCheck.objects.filter(pk__in=[c.pk for c in checks if c.pk not in due_ids]).update(
            status=InactionCheck.Status.DISCARDED, processed_at=now
        )
        return len(checks)


def _past_filter_keep(campaign: Campaign, checks: list[InactionCheck], now) -> set[int]:
    tree = campaign.past_filter
    try:
        condition = segment_selectors.rules_q(rules=tree, now=now)
    except ValidationError:
        return set()
    ok = set(
        Profile.objects.filter(pk__in={c.profile_id for c in checks}).filter(condition).values_list("pk", flat=True)
    )
    return {c.pk for c in checks if c.profile_id in ok}


def inaction_checks_process(*, now: datetime.datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Grant due checks whose B did not arrive, discard the others; safe to run twice or concurrently."""
    now = now or timezone.now()
    campaign_ids = sorted(
        set(
            InactionCheck.objects.filter(status=InactionCheck.Status.PENDING, due_at__lte=now)
            .values_list("campaign_id", flat=True)
            .distinct()
        )
    )
    processed = 0
    for campaign_id in campaign_ids:
        while True:
            claimed = _inaction_batch(campaign_id, now, batch)
            processed += claimed
            if claimed < batch:
                break
    return processed
