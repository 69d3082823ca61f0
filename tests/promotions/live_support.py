"""Builders for live-campaign tests: a running live campaign with its trigger lookup, events, grants."""

import datetime

from django.utils import timezone

from promotions.engine import live
from promotions.models import Campaign, Grant
from segments.models import Event
from tests.promotions.factories import CampaignFactory, WalletFactory
from tests.segments.factories import ProfileFactory


def running_live(**overrides) -> Campaign:
    """A Running live-action campaign (Charged → flat 10 points) that started an hour ago."""
    values = {
        "name": "Cashback",
        "qualification": Campaign.Qualification.LIVE_ACTION,
        "triggers": [{"event": "Charged", "filters": []}],
        "reward_type": Campaign.RewardType.POINTS,
        "wallet": WalletFactory(name="Supercoins"),
        "points_type": Campaign.PointsType.FLAT,
        "flat_points": 10,
        "live_start": Campaign.LiveStart.AT,
        "live_end": Campaign.LiveEnd.NEVER,
        "who_complete": True,
        "what_complete": True,
        "when_complete": True,
        "status": Campaign.Status.RUNNING,
        "starts_at": timezone.now() - datetime.timedelta(hours=1),
    }
    values.update(overrides)
    campaign = CampaignFactory(**values)
    live.triggers_sync(campaign=campaign)
    return campaign


def running_inaction(**overrides) -> Campaign:
    """A Running inaction campaign: Added To Cart, then no Charged within 30 minutes → 50 points."""
    values = {
        "qualification": Campaign.Qualification.LIVE_INACTION,
        "triggers": [],
        "inaction_event_a": "Added To Cart",
        "inaction_event_b": "Charged",
        "inaction_window_value": 30,
        "inaction_window_unit": Campaign.WindowUnit.MINUTES,
        "flat_points": 50,
        "name": "Come back",
    }
    values.update(overrides)
    return running_live(**values)


def store(profile=None, name="Charged", at=None, **properties) -> Event:
    """An event as the upload API stores it (received now unless `at` is in the past)."""
    now = timezone.now()
    at = at or now
    return Event.objects.create(
        profile=profile or ProfileFactory(),
        name=name,
        properties=properties or {"Amount": 250},
        occurred_at=at,
        received_at=max(at, now) if at > now else now,
    )


def process(*events) -> dict:
    return live.events_process(event_ids=[e.pk for e in events])


def grants(campaign, **filters):
    return list(Grant.objects.filter(campaign=campaign, **filters).order_by("pk"))


def reasons(campaign) -> list[str]:
    return [g.reason for g in grants(campaign)]
