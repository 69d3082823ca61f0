"""Live action campaigns (SPEC 6.4): matching, points, every not-granted reason, caps, periods,
start / end, pause / stop, budget used up, system events."""

import datetime
import io
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.account import account_get
from coupons.models import CodeAssignment, Coupon
from promotions import demo, services
from promotions.engine import limits, live, runs, sweeps
from promotions.engine.grants import grant_items
from promotions.models import Campaign, CampaignCounter, CampaignRun, Grant, LiveTrigger
from segments.models import Event
from tests.coupons.factories import CouponFactory
from tests.promotions.factories import VoucherListFactory
from tests.promotions.helpers import bulk_coupon, campaign_past
from tests.promotions.live_support import grants, process, reasons, running_live, store
from tests.segments.factories import ProfileFactory
from tests.vouchers.helpers import load_codes
from wallets.models import Lot, Transaction

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """System events enqueue their own live matching; record the ids instead of using a broker."""
    sent = []
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: sent.append(list(event_ids)))
    return sent


def local(y, m, d, h, mi=0, tz=NEW_YORK):
    return datetime.datetime(y, m, d, h, mi, tzinfo=tz)


def use_timezone(name: str) -> None:
    account = account_get()
    account.timezone = name
    account.save()


# --- Matching -------------------------------------------------------------------------------------


def test_a_matching_event_credits_flat_points_once_even_when_the_batch_is_processed_twice():
    campaign = running_live()
    profile = ProfileFactory()
    event = store(profile)

    process(event)
    process(event)

    [grant] = grants(campaign)
    assert grant.granted and grant.points == Decimal(10) and grant.occurrence == f"event:{event.pk}"
    assert Lot.objects.get(profile=profile, campaign=campaign).amount == Decimal(10)
    assert Transaction.objects.filter(profile=profile, lot__campaign=campaign).count() == 1
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 1
    assert CampaignCounter.objects.get(pk=campaign.pk).points_used == Decimal(10)


def test_events_of_other_names_and_failing_property_filters_are_not_rewarded():
    campaign = running_live(
        triggers=[
            {"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": 100}]},
            {"event": "App Launched", "filters": []},
        ]
    )
    small, big, launched, other = (
        store(Amount=50),
        store(Amount=500),
        store(name="App Launched"),
        store(name="Product Viewed"),
    )

    process(small, big, launched, other)

    assert sorted(g.occurrence for g in grants(campaign)) == sorted([f"event:{big.pk}", f"event:{launched.pk}"])


def test_past_behaviour_filter_is_evaluated_at_the_moment_of_the_event():
    campaign = running_live(
        past_filter={
            "op": "and",
            "rules": [{"type": "user_property", "property": "City", "operator": "equals", "value": "Mumbai"}],
        }
    )
    pune, mumbai = ProfileFactory(properties={"City": "Pune"}), ProfileFactory(properties={"City": "Mumbai"})

    process(store(pune), store(mumbai))

    assert [g.profile_id for g in grants(campaign)] == [mumbai.pk]


def test_trigger_lookup_follows_the_who_section_and_duplicates(marketer):
    campaign = running_live()
    assert list(LiveTrigger.objects.filter(campaign=campaign).values_list("event_name", flat=True)) == ["Charged"]
    copy = services.campaign_duplicate(campaign=campaign, actor=marketer)
    assert list(LiveTrigger.objects.filter(campaign=copy).values_list("event_name", flat=True)) == ["Charged"]
    # A draft copy matches nothing until it is published.
    process(store())
    assert not grants(copy) and len(grants(campaign)) == 1


def test_saving_the_who_section_re_points_the_lookup_and_demo_live_campaigns_have_it(marketer):
    campaign = running_live(status=C.Status.DRAFT)
    services.campaign_section_save(
        campaign=campaign,
        section="who",
        values={"triggers": [{"event": "App Launched", "filters": []}, {"event": "Charged", "filters": []}]},
        actor=marketer,
    )
    assert sorted(LiveTrigger.objects.filter(campaign=campaign).values_list("event_name", flat=True)) == [
        "App Launched",
        "Charged",
    ]

    demo.load(io.StringIO())
    cashback = Campaign.objects.get(name=demo.DEMO_PREFIX + "Cashback on orders")
    assert list(LiveTrigger.objects.filter(campaign=cashback).values_list("event_name", flat=True)) == ["Charged"]


# --- Points types --------------------------------------------------------------------------------


def test_percentage_uses_the_event_property_and_max_points_per_reward():
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE, points_property="Amount", percentage=10, max_points_per_reward=30
    )
    process(store(Amount=250), store(Amount=1000))
    assert [g.points for g in grants(campaign)] == [Decimal(25), Decimal(30)]


def test_proportional_is_floor_of_value_over_units_times_points():
    campaign = running_live(
        points_type=C.PointsType.PROPORTIONAL, points_property="Amount", proportional_units=100, proportional_points=10
    )
    process(store(Amount=250))
    assert [g.points for g in grants(campaign)] == [Decimal(20)]


def test_random_draw_is_stored_on_the_grant_and_credited():
    campaign = running_live(points_type=C.PointsType.RANDOM, random_min=5, random_max=9, random_favor="max")
    process(*[store() for _ in range(5)])
    for grant in grants(campaign):
        assert 5 <= grant.points <= 9
        assert Lot.objects.get(campaign=campaign, occurrence=grant.occurrence).amount == grant.points


# --- Each not-granted reason ----------------------------------------------------------------------


def test_invalid_points_when_the_property_is_missing_or_not_numeric():
    campaign = running_live(points_type=C.PointsType.PERCENTAGE, points_property="Amount", percentage=10)
    process(store(Mode="upi"), store(Amount="lots"))
    assert reasons(campaign) == [R.INVALID_POINTS, R.INVALID_POINTS]
    assert not Lot.objects.exists()


def test_invalid_wallet_configuration_and_inactive_wallet():
    broken = running_live(wallet=None)
    process(store())
    assert reasons(broken) == [R.INVALID_WALLET]
    Campaign.objects.filter(pk=broken.pk).update(status=C.Status.STOPPED)

    inactive = running_live(name="Inactive")
    inactive.wallet.is_active = False
    inactive.wallet.save()
    process(store())
    assert reasons(inactive) == [R.INACTIVE_WALLET]


def test_recurrence_total_limit():
    campaign = running_live(max_per_user_total=2)
    profile = ProfileFactory()
    process(*[store(profile) for _ in range(3)])
    assert reasons(campaign) == ["", "", R.RECURRENCE_LIMIT]


def test_campaign_budget_refuses_what_would_overshoot_and_completes_the_campaign(marketer_client):
    campaign = running_live(budget_campaign=25)
    process(store(), store(), store())

    assert reasons(campaign) == ["", "", R.CAMPAIGN_BUDGET]
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED and campaign.end_reason == limits.END_BUDGET
    assert CampaignCounter.objects.get(pk=campaign.pk).points_used == Decimal(20)
    # Completed: later events match nothing.
    process(store())
    assert len(grants(campaign)) == 3

    page = marketer_client.get(campaign.get_absolute_url()).content.decode()
    assert limits.END_BUDGET in page
    assert (
        '<span class="budget-used">20</span> used' in page and '<span class="budget-left">5</span> left of 25' in page
    )


def test_campaign_budget_is_not_partly_granted_for_a_bigger_reward():
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE, points_property="Amount", percentage=100, budget_campaign=100
    )
    process(store(Amount=60), store(Amount=60), store(Amount=40))
    assert [(g.reason, g.points) for g in grants(campaign)] == [
        ("", Decimal(60)),
        (R.CAMPAIGN_BUDGET, Decimal(60)),
        ("", Decimal(40)),
    ]
    assert sum(Lot.objects.filter(campaign=campaign).values_list("amount", flat=True)) == Decimal(100)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED


def test_user_points_budget():
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE, points_property="Amount", percentage=10, budget_per_user=30
    )
    first, second = ProfileFactory(), ProfileFactory()
    process(store(first, Amount=200), store(first, Amount=200), store(second, Amount=200))
    assert reasons(campaign) == ["", R.USER_BUDGET, ""]


def test_coupon_limits_per_user_and_per_campaign_then_completed():
    coupon = bulk_coupon(10)
    campaign = running_live(
        reward_type=C.RewardType.COUPON,
        coupon=coupon,
        coupon_kind="bulk",
        wallet=None,
        max_codes_per_user=1,
        max_codes_per_campaign=2,
    )
    one, two, three = ProfileFactory(), ProfileFactory(), ProfileFactory()
    process(store(one), store(one), store(two), store(three))
    assert reasons(campaign) == ["", R.USER_COUPON_LIMIT, "", R.CAMPAIGN_COUPON_LIMIT]
    assert CodeAssignment.objects.filter(campaign=campaign).count() == 2
    assert all(g.code for g in grants(campaign, granted=True))
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED and campaign.end_reason == limits.END_COUPONS


def test_inactive_coupon_bulk_codes_exhausted_and_redemption_limit_reached():
    paused = bulk_coupon(2)
    Coupon.objects.filter(pk=paused.pk).update(status=Coupon.Status.PAUSED)
    a = running_live(reward_type=C.RewardType.COUPON, coupon=paused, coupon_kind="bulk", wallet=None)
    process(store())
    assert reasons(a) == [R.INACTIVE_COUPON]
    Campaign.objects.filter(pk=a.pk).update(status=C.Status.STOPPED)

    b = running_live(reward_type=C.RewardType.COUPON, coupon=bulk_coupon(1), coupon_kind="bulk", wallet=None)
    process(store(), store())
    assert reasons(b) == ["", R.BULK_CODES_EXHAUSTED]
    Campaign.objects.filter(pk=b.pk).update(status=C.Status.STOPPED)

    single = CouponFactory(code="WELCOME", total_limit=1)
    c = running_live(reward_type=C.RewardType.COUPON, coupon=single, coupon_kind="single", wallet=None)
    process(store(), store())
    assert reasons(c) == ["", R.COUPON_LIMIT_REACHED]


def test_voucher_reasons():
    paused = VoucherListFactory(status="paused")
    a = running_live(reward_type=C.RewardType.VOUCHER, voucher_list=paused, wallet=None)
    process(store())
    assert reasons(a) == [R.INACTIVE_VOUCHER_LIST]
    Campaign.objects.filter(pk=a.pk).update(status=C.Status.STOPPED)

    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["V1", "V2", "V3"])
    b = running_live(
        reward_type=C.RewardType.VOUCHER,
        voucher_list=voucher_list,
        wallet=None,
        max_codes_per_user=1,
        max_codes_per_campaign=2,
    )
    one, two, three = ProfileFactory(), ProfileFactory(), ProfileFactory()
    process(store(one), store(one), store(two), store(three))
    assert reasons(b) == ["", R.USER_VOUCHER_LIMIT, "", R.CAMPAIGN_VOUCHER_LIMIT]
    b.refresh_from_db()
    assert b.status == C.Status.COMPLETED and b.end_reason == limits.END_VOUCHERS

    small = VoucherListFactory()
    load_codes(small, ["W1"])
    c = running_live(reward_type=C.RewardType.VOUCHER, voucher_list=small, wallet=None)
    process(store(), store())
    assert reasons(c) == ["", R.VOUCHER_CODES_EXHAUSTED]


def test_paused_campaign_matches_nothing_and_a_pause_racing_the_grant_gives_the_paused_reason(marketer):
    campaign = running_live()
    services.campaign_pause(campaign=campaign, actor=marketer)
    process(store())
    assert grants(campaign) == []

    # The batch matched while Running; the pause committed before its grant transaction.
    profile = ProfileFactory()
    event = store(profile)
    grant_items(
        campaign_id=campaign.pk,
        items=[limits.Item(profile_id=profile.pk, occurrence=f"event:{event.pk}", at=event.occurred_at)],
    )
    assert reasons(campaign) == [R.CAMPAIGN_PAUSED]
    assert not Lot.objects.exists()

    services.campaign_resume(campaign=campaign, actor=marketer)
    process(store())
    assert reasons(campaign) == [R.CAMPAIGN_PAUSED, ""]

    services.campaign_stop(campaign=campaign, actor=marketer)
    process(store())
    assert len(grants(campaign)) == 2


# --- Calendar periods in the account timezone ------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "first", "same_period", "next_period"),
    [
        # New York: 23:30 and 00:30 local are the same UTC day (04:30 / 05:30 UTC) but different local days.
        ("max_per_user_day", local(2026, 11, 23, 0, 30), local(2026, 11, 23, 23, 30), local(2026, 11, 24, 0, 30)),
        # ISO weeks start on Monday: Sunday 23:00 local is already Monday in UTC.
        ("max_per_user_week", local(2026, 11, 16, 9), local(2026, 11, 22, 23), local(2026, 11, 23, 0, 10)),
        ("max_per_user_month", local(2026, 11, 1, 0, 30), local(2026, 11, 30, 22), local(2026, 12, 1, 0, 5)),
    ],
)
def test_recurrence_periods_follow_the_account_timezone(cap, first, same_period, next_period):
    use_timezone("America/New_York")
    campaign = running_live(**{cap: 1}, starts_at=first - datetime.timedelta(days=1))
    profile = ProfileFactory()
    process(store(profile, at=first), store(profile, at=same_period), store(profile, at=next_period))
    assert reasons(campaign) == ["", R.RECURRENCE_LIMIT, ""]


# --- Start and end ---------------------------------------------------------------------------------


def test_events_before_start_or_from_the_end_on_do_not_match():
    now = timezone.now()
    campaign = running_live(
        starts_at=now - datetime.timedelta(minutes=10), ends_at=now + datetime.timedelta(minutes=10)
    )
    before = store(at=now - datetime.timedelta(minutes=11))
    inside = store(at=now - datetime.timedelta(minutes=9))
    process(before, inside)
    assert [g.occurrence for g in grants(campaign)] == [f"event:{inside.pk}"]

    Campaign.objects.filter(pk=campaign.pk).update(ends_at=now - datetime.timedelta(seconds=1))
    process(store())
    assert len(grants(campaign)) == 1


def test_a_scheduled_campaign_matches_from_its_start_and_the_sweep_runs_and_ends_it():
    now = timezone.now()
    campaign = running_live(status=C.Status.SCHEDULED, starts_at=now + datetime.timedelta(minutes=5))
    process(store())
    assert grants(campaign) == []

    Campaign.objects.filter(pk=campaign.pk).update(starts_at=now - datetime.timedelta(seconds=30))
    process(store())  # before the sweep flipped it: its start has come, so it matches
    assert len(grants(campaign, granted=True)) == 1
    assert sweeps.live_sweep()["started"] == 1
    campaign.refresh_from_db()
    assert campaign.status == C.Status.RUNNING

    Campaign.objects.filter(pk=campaign.pk).update(ends_at=now)
    assert sweeps.live_sweep()["ended"] == 1
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED and campaign.end_reason == sweeps.END_TIME


# --- System events ---------------------------------------------------------------------------------


def test_each_grant_records_a_system_event_other_campaigns_trigger_on_but_not_itself(
    no_broker, django_capture_on_commit_callbacks
):
    giver = running_live(
        name="Giver", triggers=[{"event": "Charged", "filters": []}, {"event": "Points Credited", "filters": []}]
    )
    echo = running_live(name="Echo", triggers=[{"event": "Points Credited", "filters": []}], flat_points=1)
    profile = ProfileFactory()

    with django_capture_on_commit_callbacks(execute=True):
        process(store(profile))
    [credited] = Event.objects.filter(name="Points Credited")
    assert credited.profile_id == profile.pk
    assert credited.properties == {
        "Campaign ID": giver.pk,
        "Trigger Depth": 1,
        "Wallet ID": giver.wallet_id,
        "Points": 10,
    }
    assert no_broker == [[credited.pk]]

    # Delivering the system events: Echo rewards Giver's event, Giver ignores its own; and so on
    # down the chain until the depth limit stops it.
    for _ in range(10):
        batch = no_broker.pop(0) if no_broker else None
        if batch is None:
            break
        with django_capture_on_commit_callbacks(execute=True):
            live.events_process(event_ids=batch)
    assert not no_broker
    depths = sorted(e.properties["Trigger Depth"] for e in Event.objects.filter(name="Points Credited"))
    assert depths == [1, 2, 3] and live.MAX_TRIGGER_DEPTH == 3
    assert all(g.granted for g in Grant.objects.all())
    assert not Grant.objects.filter(campaign=giver, occurrence=f"event:{credited.pk}").exists()
    assert Grant.objects.filter(campaign=echo, occurrence=f"event:{credited.pk}").exists()


def test_run_grants_record_system_events_in_bulk(no_broker, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)
    campaign = campaign_past(members=3)
    campaign.status = C.Status.RUNNING
    campaign.save()
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    sweeps.runs_dispatch_due()
    with django_capture_on_commit_callbacks(execute=True):
        runs.run_distribute_chunk(run_id=run.pk)

    events = Event.objects.filter(name="Points Credited")
    assert events.count() == 3
    assert {e.properties["Campaign ID"] for e in events} == {campaign.pk}
    assert len(no_broker) == 1 and sorted(no_broker[0]) == sorted(e.pk for e in events)


# --- Invariant ----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budget=st.integers(min_value=1, max_value=500),
    per_user=st.one_of(st.none(), st.integers(min_value=1, max_value=200)),
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 300)), min_size=1, max_size=6), min_size=1, max_size=4
    ),
)
def test_budgets_are_never_exceeded(budget, per_user, batches):
    Campaign.objects.update(status=C.Status.STOPPED)
    campaign = running_live(
        points_type=C.PointsType.PERCENTAGE,
        points_property="Amount",
        percentage=50,
        budget_campaign=budget,
        budget_per_user=per_user,
    )
    profiles = [ProfileFactory() for _ in range(4)]
    for batch in batches:
        process(*[store(profiles[who], Amount=amount) for who, amount in batch])
    lots = Lot.objects.filter(campaign=campaign)
    total = sum(lots.values_list("amount", flat=True), Decimal(0))
    assert total <= budget
    assert CampaignCounter.objects.filter(pk=campaign.pk).values_list("points_used", flat=True).first() in (None, total)
    if per_user is not None:
        for profile in profiles:
            assert sum(lots.filter(profile=profile).values_list("amount", flat=True), Decimal(0)) <= per_user
    # Every refusal was needed: a budget-refused reward really would not have fitted when it was decided.
    assert all(g.granted or g.reason in (R.CAMPAIGN_BUDGET, R.USER_BUDGET, R.INVALID_POINTS) for g in grants(campaign))


# --- Cost ----------------------------------------------------------------------------------------


def test_a_batch_costs_the_same_number_of_queries_however_many_events_and_idle_campaigns(
    django_assert_max_num_queries,
):
    for i in range(100):
        running_live(name=f"Idle {i}", triggers=[{"event": f"Never {i}", "filters": []}])
    running_live(
        triggers=[{"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": 1}]}],
        max_per_user_day=5,
    )
    small = [store() for _ in range(5)]
    large = [store() for _ in range(100)]
    # The first batch also creates the campaign's counter row and the catalogue rows of its system
    # event; each batch first reads its distinct event names, then only the events that trigger.
    with django_assert_max_num_queries(27) as few:
        process(*small)
    with django_assert_max_num_queries(27) as many:
        process(*large)
    assert len(many.captured_queries) <= len(few.captured_queries)
    assert len(Grant.objects.filter(granted=True)) == 105
