"""Real concurrent transactions on PostgreSQL for live campaigns: budgets, per-user caps, the inaction
sweep in two workers, and a batch task delivered twice at once."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from promotions.engine import inaction, limits, live
from promotions.models import Campaign, CampaignCounter, Grant, InactionCheck
from segments.models import Event
from tests.promotions.live_support import grants, running_inaction, running_live, store
from tests.segments.factories import ProfileFactory
from wallets.models import Lot

pytestmark = pytest.mark.django_db(transaction=True)
C = Campaign


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def in_threads(targets):
    barrier = threading.Barrier(len(targets))
    errors = []

    def work(target):
        try:
            barrier.wait()
            target()
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def batch_task(event_ids):
    return lambda: live.events_process(event_ids=event_ids)


def test_fifty_concurrent_events_never_exceed_a_budget_of_exactly_1000_points():
    campaign = running_live(flat_points=30, budget_campaign=1000)
    events = [store() for _ in range(50)]

    in_threads([batch_task([e.pk]) for e in events])

    total = sum(Lot.objects.filter(campaign=campaign).values_list("amount", flat=True), Decimal(0))
    assert total == Decimal(990)  # exactly as many as fit: 33 × 30
    assert len(grants(campaign, granted=True)) == 33
    assert CampaignCounter.objects.get(pk=campaign.pk).points_used == Decimal(990)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED and campaign.end_reason == limits.END_BUDGET


def test_fifty_concurrent_variable_rewards_fill_the_budget_exactly():
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE, points_property="Amount", percentage=100, budget_campaign=1000
    )
    events = [store(Amount=40) for _ in range(50)]  # 25 fit exactly

    in_threads([batch_task([e.pk]) for e in events])

    assert sum(Lot.objects.filter(campaign=campaign).values_list("amount", flat=True)) == Decimal(1000)
    assert len(grants(campaign, granted=True)) == 25


def test_per_user_caps_hold_under_concurrent_events_for_one_profile():
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE,
        points_property="Amount",
        percentage=100,
        budget_per_user=100,
        max_per_user_day=4,
    )
    profile = ProfileFactory()
    events = [store(profile, Amount=30) for _ in range(20)]

    in_threads([batch_task([e.pk]) for e in events])

    lots = list(Lot.objects.filter(campaign=campaign, profile=profile).values_list("amount", flat=True))
    assert len(lots) == 3 and sum(lots) == Decimal(90)  # the 4th of 30 would pass the user budget of 100
    refused = {g.reason for g in grants(campaign, granted=False)}
    assert refused <= {Grant.Reason.USER_BUDGET, Grant.Reason.RECURRENCE_LIMIT}


def test_recurrence_cap_holds_under_concurrent_events_for_one_profile():
    campaign = running_live(max_per_user_total=2)
    profile = ProfileFactory()
    events = [store(profile) for _ in range(20)]
    in_threads([batch_task([e.pk]) for e in events])
    assert Lot.objects.filter(campaign=campaign, profile=profile).count() == 2


def test_inaction_sweep_run_by_two_workers_at_once_grants_each_check_once():
    campaign = running_inaction()
    past = timezone.now() - datetime.timedelta(hours=1)
    events = [store(name="Added To Cart", at=past) for _ in range(30)]
    live.events_process(event_ids=[e.pk for e in events])
    assert InactionCheck.objects.filter(campaign=campaign).count() == 30

    in_threads([lambda: inaction.inaction_checks_process(batch=7), lambda: inaction.inaction_checks_process(batch=7)])

    assert len(grants(campaign, granted=True)) == 30
    assert Lot.objects.filter(campaign=campaign).count() == 30
    assert set(InactionCheck.objects.values_list("status", flat=True)) == {InactionCheck.Status.REWARDED}


def test_the_same_batch_task_delivered_twice_at_once_rewards_each_event_once():
    campaign = running_live()
    events = [store() for _ in range(20)]
    ids = [e.pk for e in events]

    in_threads([batch_task(ids), batch_task(ids)])

    assert len(grants(campaign)) == 20
    assert Lot.objects.filter(campaign=campaign).count() == 20
    assert Event.objects.filter(name="Points Credited").count() == 20
