"""Live inaction campaigns (SPEC 6.4): A creates a pending check; the sweep rewards it when B did not come."""

import datetime

import pytest
from django.utils import timezone

from promotions import services
from promotions.engine import sweeps
from promotions.models import Campaign, Grant, InactionCheck
from tests.promotions.live_support import grants, process, reasons, running_inaction, store
from tests.segments.factories import ProfileFactory
from wallets.models import Lot

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason
S = InactionCheck.Status


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def ago(**delta):
    return timezone.now() - datetime.timedelta(**delta)


def test_event_a_creates_one_pending_check_due_after_the_window_even_if_processed_twice():
    campaign = running_inaction()
    a = store(name="Added To Cart", at=ago(minutes=5))
    process(a)
    process(a)
    [check] = InactionCheck.objects.filter(campaign=campaign)
    assert check.status == S.PENDING and check.due_at == a.occurred_at + datetime.timedelta(minutes=30)
    assert check.event_a_id == a.pk


def test_no_b_within_the_window_rewards_at_the_sweep_and_not_before():
    campaign = running_inaction()
    profile = ProfileFactory()
    a = store(profile, name="Added To Cart", at=ago(minutes=29))
    process(a)

    assert sweeps.live_sweep()["checks"] == 0
    assert grants(campaign) == []

    later = timezone.now() + datetime.timedelta(minutes=2)
    assert sweeps.live_sweep(now=later)["checks"] == 1
    assert sweeps.live_sweep(now=later)["checks"] == 0  # safe to run twice
    check = InactionCheck.objects.get(campaign=campaign)
    [grant] = grants(campaign)
    assert grant.granted and grant.occurrence == f"check:{check.pk}" and grant.profile_id == profile.pk
    assert Lot.objects.get(campaign=campaign).amount == 50
    assert check.status == S.REWARDED


def test_b_inside_the_window_discards_the_check_and_b_after_it_does_not():
    campaign = running_inaction()
    bought, late = ProfileFactory(), ProfileFactory()
    process(
        store(bought, name="Added To Cart", at=ago(minutes=40)), store(late, name="Added To Cart", at=ago(minutes=40))
    )
    # B uploaded late but with its own time inside the window counts; a B after the window does not.
    store(bought, name="Charged", at=ago(minutes=20))
    store(late, name="Charged", at=ago(minutes=5))

    sweeps.live_sweep()

    assert [g.profile_id for g in grants(campaign)] == [late.pk]
    statuses = dict(InactionCheck.objects.values_list("profile_id", "status"))
    assert statuses == {bought.pk: S.DISCARDED, late.pk: S.REWARDED}


def test_constant_property_needs_the_same_value_in_b():
    campaign = running_inaction(constant_property="Product ID")
    same, other = ProfileFactory(), ProfileFactory()
    process(
        store(same, name="Added To Cart", at=ago(minutes=40), **{"Product ID": "p9"}),
        store(other, name="Added To Cart", at=ago(minutes=40), **{"Product ID": "p9"}),
        store(name="Added To Cart", at=ago(minutes=40)),  # no Product ID: nothing to compare, no check
    )
    store(same, name="Charged", at=ago(minutes=35), **{"Product ID": "p9"})
    store(other, name="Charged", at=ago(minutes=35), **{"Product ID": "p1"})

    sweeps.live_sweep()

    assert InactionCheck.objects.count() == 2
    assert [g.profile_id for g in grants(campaign)] == [other.pk]


def test_recurrence_caps_apply_to_inaction_rewards():
    campaign = running_inaction(max_per_user_total=1)
    profile = ProfileFactory()
    process(
        store(profile, name="Added To Cart", at=ago(minutes=50)),
        store(profile, name="Added To Cart", at=ago(minutes=40)),
    )
    sweeps.live_sweep()
    assert reasons(campaign) == ["", R.RECURRENCE_LIMIT]


def test_checks_falling_due_while_paused_get_the_paused_reason_and_end_cancels_the_rest(marketer):
    campaign = running_inaction()
    process(store(name="Added To Cart", at=ago(minutes=40)), store(name="Added To Cart", at=ago(minutes=1)))
    services.campaign_pause(campaign=campaign, actor=marketer)

    sweeps.live_sweep()
    assert reasons(campaign) == [R.CAMPAIGN_PAUSED]

    Campaign.objects.filter(pk=campaign.pk).update(ends_at=timezone.now())
    sweeps.live_sweep()
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED
    assert sorted(InactionCheck.objects.values_list("status", flat=True)) == [S.CANCELLED, S.REWARDED]
    assert sweeps.live_sweep(now=timezone.now() + datetime.timedelta(hours=1))["checks"] == 0
    assert len(grants(campaign)) == 1


def test_past_filter_is_checked_when_the_check_falls_due():
    campaign = running_inaction(
        past_filter={
            "op": "and",
            "rules": [{"type": "user_property", "property": "City", "operator": "equals", "value": "Mumbai"}],
        }
    )
    pune, mumbai = ProfileFactory(properties={"City": "Pune"}), ProfileFactory(properties={"City": "Mumbai"})
    process(
        store(pune, name="Added To Cart", at=ago(minutes=40)), store(mumbai, name="Added To Cart", at=ago(minutes=40))
    )
    sweeps.live_sweep()
    assert [g.profile_id for g in grants(campaign)] == [mumbai.pk]
