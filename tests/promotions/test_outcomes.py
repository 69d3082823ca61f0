"""Holdout in runs and live matching, and the set-based outcome report on PostgreSQL (issue #19)."""

import datetime
import random

import pytest
from django.db.models import F
from django.utils import timezone

from promotions import holdout, outcomes, selectors
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignCounter, CampaignOutcome, CampaignRun, CampaignRunPartition, Grant
from segments.models import Event, Profile
from tests.promotions.helpers import campaign_past
from tests.promotions.live_support import process, running_inaction, running_live, store
from tests.segments.factories import ProfileFactory
from wallets.models import Lot

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def run_all(campaign, chunk_size=7):
    campaign.status = C.Status.RUNNING
    campaign.save()
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    sweeps.runs_dispatch_due()
    while runs.run_distribute_chunk(run_id=run.pk, chunk_size=chunk_size) == runs.MORE:
        pass
    return run


def expected_held(campaign, profile_ids):
    return holdout.held_out_ids(campaign_id=campaign.pk, profile_ids=profile_ids, percent=campaign.holdout_percent)


def test_run_holds_out_its_share_with_no_points_and_no_error_and_a_rerun_changes_nothing():
    campaign = campaign_past(members=40, holdout_percent=30)
    members = list(campaign.custom_list.members.values_list("profile_id", flat=True))
    held = expected_held(campaign, members)
    assert 0 < len(held) < 40
    run = run_all(campaign)
    grants = {g.profile_id: g for g in Grant.objects.filter(campaign=campaign)}
    assert set(grants) == set(members)
    assert {pid for pid, g in grants.items() if g.reason == R.HELD_OUT} == held
    assert all(g.granted for pid, g in grants.items() if pid not in held)
    assert not Lot.objects.filter(campaign=campaign, profile_id__in=held).exists()
    assert Lot.objects.filter(campaign=campaign).count() == 40 - len(held)
    stats = selectors.campaign_grant_stats(campaign=campaign)
    assert stats["not_granted"] == 0 and stats["held_out"] == len(held)
    assert selectors.campaign_grant_errors(campaign=campaign) == []
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 40 - len(held)
    # The chunk delivered again: exactly once per (campaign, profile, occurrence) still holds.
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.RUNNING)
    CampaignRunPartition.objects.filter(run=run).update(done=False, cursor=F("start"))
    runs.run_distribute_chunk(run_id=run.pk, chunk_size=100)
    assert Grant.objects.filter(campaign=campaign).count() == 40


def test_without_a_holdout_nobody_is_held_out():
    campaign = campaign_past(members=10)
    run_all(campaign)
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 10


def test_live_held_out_items_use_no_budget_and_no_cap_and_stay_in_their_group():
    campaign = running_live(holdout_percent=50, budget_campaign=1000, max_per_user_total=1)
    profiles = [ProfileFactory() for _ in range(30)]
    held = expected_held(campaign, [p.pk for p in profiles])
    assert 0 < len(held) < 30
    process(*[store(p) for p in profiles])
    process(*[store(p) for p in profiles])  # a second trigger each: the held out stay held out
    grants = list(Grant.objects.filter(campaign=campaign))
    assert {g.profile_id for g in grants if g.reason == R.HELD_OUT} == held
    assert sum(1 for g in grants if g.reason == R.HELD_OUT) == 2 * len(held)
    rewarded = 30 - len(held)
    assert sum(1 for g in grants if g.granted) == rewarded
    # The cap turned down only the rewarded group's second event.
    assert sum(1 for g in grants if g.reason == R.RECURRENCE_LIMIT) == rewarded
    assert CampaignCounter.objects.get(campaign=campaign).points_used == 10 * rewarded
    # The same batch matched again (a re-sent batch, a retried task): nothing new, held out or given.
    events = list(Event.objects.filter(name="Charged", profile__in=profiles))
    process(*events)
    assert Grant.objects.filter(campaign=campaign).count() == len(grants)


def test_inaction_check_of_a_held_out_profile_is_recorded_held_out():
    campaign = running_inaction(holdout_percent=50)
    profiles = [ProfileFactory() for _ in range(12)]
    held = expected_held(campaign, [p.pk for p in profiles])
    past = timezone.now() - datetime.timedelta(minutes=40)
    process(*[store(p, name="Added To Cart", at=past) for p in profiles])
    sweeps.live_sweep()
    grants = {g.profile_id: g for g in Grant.objects.filter(campaign=campaign)}
    assert {pid for pid, g in grants.items() if g.reason == R.HELD_OUT} == held
    assert all(g.granted for pid, g in grants.items() if pid not in held)


def _seed_report(campaign, *, rates, n, at, value=10, seed=3):
    """Grants for n profiles (holdout decided by the hash) and Charged conversions at the group's rate."""
    rng = random.Random(seed)
    profiles = Profile.objects.bulk_create([Profile(identity=f"r{campaign.pk}-{i}") for i in range(n)])
    held = expected_held(campaign, [p.pk for p in profiles])
    Grant.objects.bulk_create(
        Grant(
            campaign=campaign,
            profile=p,
            occurrence="run:1",
            granted=p.pk not in held,
            reason="" if p.pk not in held else R.HELD_OUT,
            points=None,
            created_at=at,
        )
        for p in profiles
    )
    events, truth = [], {"holdout": 0, "rewarded": 0}
    for p in profiles:
        group = "holdout" if p.pk in held else "rewarded"
        if rng.random() < rates[group]:
            truth[group] += 1
            hours = rng.uniform(1, 47)
            events.append(
                Event(
                    profile=p,
                    name="Charged",
                    properties={"Amount": value},
                    occurred_at=at + datetime.timedelta(hours=hours),
                )
            )
        # Noise the report must ignore: before qualifying, after the window, another event, a filtered-out one.
        events.append(
            Event(profile=p, name="Charged", properties={"Amount": 1}, occurred_at=at - datetime.timedelta(hours=1))
        )
        events.append(
            Event(profile=p, name="Charged", properties={"Amount": 1}, occurred_at=at + datetime.timedelta(hours=49))
        )
        events.append(
            Event(profile=p, name="App Launched", properties={}, occurred_at=at + datetime.timedelta(hours=2))
        )
        events.append(
            Event(
                profile=p,
                name="Charged",
                properties={"Amount": 1, "Mode": "test"},
                occurred_at=at + datetime.timedelta(hours=3),
            )
        )
    Event.objects.bulk_create(events)
    return held, truth


def test_report_counts_conversions_set_based_within_the_window_and_the_filters():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    at = timezone.now() - datetime.timedelta(days=3)
    campaign = campaign_past(
        members=0,
        status=C.Status.COMPLETED,
        holdout_percent=20,
        goal_event="Charged",
        goal_filters=[{"property": "Mode", "operator": "not_equals", "value": "test", "value_type": "string"}],
        goal_window_value=2,
        goal_window_unit=C.GoalWindowUnit.DAYS,
        goal_value_property="Amount",
    )
    held, truth = _seed_report(campaign, rates={"holdout": 0.10, "rewarded": 0.30}, n=600, at=at)
    with CaptureQueriesContext(connection) as captured:
        counts = outcomes.outcome_counts(campaign)
    # One statement reads the grants and the events, whatever the audience's size.
    assert len([q for q in captured.captured_queries if "segments_event" in q["sql"]]) == 1
    assert counts["holdout"]["profiles"] == len(held)
    assert counts["rewarded"]["profiles"] == 600 - len(held)
    assert counts["holdout"]["converted"] == truth["holdout"]
    assert counts["rewarded"]["converted"] == truth["rewarded"]
    assert counts["rewarded"]["value"] == 10 * truth["rewarded"]
    assert sum(counts["rewarded"]["steps"]) == truth["rewarded"]

    outcome = outcomes.outcome_refresh(campaign=campaign)
    report = CampaignOutcome.objects.get(pk=campaign.pk).report
    assert outcome.computed_at is not None
    p1 = truth["rewarded"] / (600 - len(held))
    p0 = truth["holdout"] / len(held)
    assert report["uplift"]["absolute"] == pytest.approx(p1 - p0)
    assert report["uplift"]["incrementalConversions"] == pytest.approx((p1 - p0) * (600 - len(held)), abs=0.05)
    assert report["curve"]["rewarded"][-1] == pytest.approx(p1)
    assert report["verdict"].endswith("the reward raised conversion.")


def test_report_counts_each_profile_once_from_its_first_decision_across_occurrences():
    """A recurring campaign decides for a profile at every run: the profile is counted once, in the
    group of its first decision, and converts only by goal events after that first decision."""
    first = timezone.now() - datetime.timedelta(days=6)
    second = first + datetime.timedelta(days=3)
    campaign = campaign_past(
        members=0,
        status=C.Status.RUNNING,
        holdout_percent=50,
        goal_event="Charged",
        goal_window_value=1,
        goal_window_unit=C.GoalWindowUnit.DAYS,
        goal_value_property="Amount",
    )
    for when in (first, second):  # two runs: the report takes the grouped path
        CampaignRun.objects.create(campaign=campaign, scheduled_for=when, status=CampaignRun.Status.COMPLETED)
    profiles = Profile.objects.bulk_create([Profile(identity=f"occ{campaign.pk}-{i}") for i in range(40)])
    held = expected_held(campaign, [p.pk for p in profiles])
    assert 0 < len(held) < 40
    grants = []
    for occurrence, when in (("run:1", first), ("run:2", second)):
        grants += [
            Grant(
                campaign=campaign,
                profile=p,
                occurrence=occurrence,
                granted=p.pk not in held,
                reason=R.HELD_OUT if p.pk in held else "",
                created_at=when,
            )
            for p in profiles
        ]
    Grant.objects.bulk_create(grants)
    # Every profile buys within a day of the SECOND run only: outside the window of its first
    # decision, so nobody converted; profiles 0–9 also buy within a day of the first run.
    Event.objects.bulk_create(
        [
            Event(profile=p, name="Charged", properties={"Amount": 5}, occurred_at=second + datetime.timedelta(hours=2))
            for p in profiles
        ]
        + [
            Event(profile=p, name="Charged", properties={"Amount": 7}, occurred_at=first + datetime.timedelta(hours=6))
            for p in profiles[:10]
        ]
    )
    counts = outcomes.outcome_counts(campaign)
    early_held = len([p for p in profiles[:10] if p.pk in held])
    assert counts["holdout"]["profiles"] == len(held)
    assert counts["rewarded"]["profiles"] == 40 - len(held)
    assert counts["holdout"]["converted"] == early_held
    assert counts["rewarded"]["converted"] == 10 - early_held
    assert counts["rewarded"]["value"] == 7 * (10 - early_held)
    # 6 hours of a 1-day window: the fifth twentieth.
    assert counts["rewarded"]["steps"][4] == 10 - early_held


def test_periodic_sweep_refreshes_campaigns_with_a_goal_only():
    at = timezone.now() - datetime.timedelta(hours=5)
    with_goal = campaign_past(
        members=0,
        status=C.Status.RUNNING,
        goal_event="Charged",
        goal_window_value=1,
        goal_window_unit=C.GoalWindowUnit.DAYS,
    )
    campaign_past(members=0, status=C.Status.RUNNING)
    _seed_report(with_goal, rates={"holdout": 0.1, "rewarded": 0.1}, n=20, at=at)
    assert outcomes.outcomes_refresh_due() == [with_goal.pk]
    assert outcomes.outcomes_refresh_due() == []  # fresh for REFRESH_EVERY
    later = timezone.now() + outcomes.REFRESH_EVERY + datetime.timedelta(minutes=1)
    assert outcomes.outcomes_refresh_due(now=later) == [with_goal.pk]


def test_held_out_profiles_take_no_code_from_a_bulk_series():
    from tests.promotions.test_distribution_runs import bulk_coupon

    coupon = bulk_coupon(40)
    campaign = campaign_past(
        members=30,
        holdout_percent=40,
        reward_type=C.RewardType.COUPON,
        coupon_kind=C.CouponKind.BULK,
        coupon=coupon,
        wallet=None,
        points_type="",
        flat_points=None,
    )
    members = list(campaign.custom_list.members.values_list("profile_id", flat=True))
    held = expected_held(campaign, members)
    run_all(campaign)
    from coupons.models import CodeAssignment

    assigned = set(CodeAssignment.objects.filter(campaign=campaign).values_list("profile_id", flat=True))
    assert assigned == set(members) - held
    assert Grant.objects.filter(campaign=campaign, reason=R.HELD_OUT).count() == len(held)


def test_the_outcome_sweep_is_a_static_beat_entry():
    from django_celery_beat.models import PeriodicTask

    assert PeriodicTask.objects.filter(task="promotions.outcomes_refresh_due", enabled=True).count() == 1


def test_a_profile_stays_in_its_group_across_runs_of_a_recurring_campaign():
    # Two runs of the same campaign (what a recurring schedule creates), each rewarding again.
    campaign = campaign_past(members=30, holdout_percent=25, reward_again=True)
    members = list(campaign.custom_list.members.values_list("profile_id", flat=True))
    first, second = run_all(campaign), run_all(campaign, chunk_size=4)
    held = expected_held(campaign, members)
    for run in (first, second):
        in_run = Grant.objects.filter(run=run)
        assert set(in_run.filter(reason=R.HELD_OUT).values_list("profile_id", flat=True)) == held
        assert in_run.filter(granted=True).count() == 30 - len(held)


def test_sweep_stops_refreshing_an_ended_campaign_once_its_windows_are_over():
    ended = campaign_past(
        members=0,
        status=C.Status.COMPLETED,
        goal_event="Charged",
        goal_window_value=2,
        goal_window_unit=C.GoalWindowUnit.HOURS,
    )
    Campaign.objects.filter(pk=ended.pk).update(updated_at=timezone.now() - datetime.timedelta(days=3))
    assert outcomes.outcomes_refresh_due() == [ended.pk]  # never computed: computed once
    later = timezone.now() + outcomes.REFRESH_EVERY + datetime.timedelta(minutes=1)
    assert outcomes.outcomes_refresh_due(now=later) == []  # the stored report already saw every window
