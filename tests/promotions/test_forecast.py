"""The forecast (issue #21): a replay of stored events through the engine's own decision, checked
grant by grant against the live engine really processing the same events; the bulk forecast;
the background job and the Publish panel."""

import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.account import account_tzinfo
from coupons import services as coupon_services
from coupons.models import CodeAssignment
from promotions import forecast
from promotions.engine import inaction, limits, live
from promotions.models import Campaign, Forecast, Grant, InactionCheck
from segments.models import Event, Profile
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.factories import CampaignFactory, WalletFactory
from tests.promotions.helpers import HTMX, campaign_past
from tests.promotions.live_support import running_live
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def _history(now, *, days=12, seed=7):
    """Events of the last `days` days in time order (ids ascend with time): Charged with amounts
    and payment modes, App Launched, noise, from a few profiles (some of them in Mumbai)."""
    rng = random.Random(seed)
    profiles = [ProfileFactory(properties={"City": "Mumbai" if i % 3 else "Pune"}) for i in range(6)]
    moments = sorted(
        now - datetime.timedelta(days=days) + datetime.timedelta(minutes=rng.randrange(days * 1440)) for _ in range(120)
    )
    events = []
    for at in moments:
        name = rng.choice(["Charged", "Charged", "Charged", "App Launched", "Product Viewed"])
        props = {"Amount": rng.choice([40, 120, 250, 900, 3000]), "Payment Mode": rng.choice(["card", "upi"])}
        events.append(
            Event.objects.create(
                profile=rng.choice(profiles), name=name, properties=props, occurred_at=at, received_at=now
            )
        )
    return events


def _config(**overrides):
    values = {
        "triggers": [
            {"event": "Charged", "filters": [{"property": "Amount", "operator": "greater_than", "value": 100}]},
            {"event": "App Launched", "filters": []},
        ],
        "past_filter": {
            "op": "and",
            "rules": [{"type": "user_property", "property": "City", "operator": "equals", "value": "Mumbai"}],
        },
        "points_type": C.PointsType.PERCENTAGE,
        "points_property": "Amount",
        "percentage": 10,
        "max_points_per_reward": 150,
        "max_per_user_day": 2,
        "max_per_user_week": 5,
        "budget_per_user": 600,
        "budget_campaign": 1500,
    }
    values.update(overrides)
    return values


def _twins(now, **config):
    """A draft to forecast and a Running campaign of the same configuration, started before the window."""
    wallet = WalletFactory(name="Supercoins")
    draft = CampaignFactory(
        name="Draft",
        qualification=C.Qualification.LIVE_ACTION,
        reward_type=C.RewardType.POINTS,
        wallet=wallet,
        **config,
    )
    engine = running_live(wallet=wallet, starts_at=now - datetime.timedelta(days=31), **config)
    return draft, engine


def _replayed(replay):
    return [(d.occurrence, d.profile_id, not d.reason, d.reason, d.points) for d in replay.decisions]


def _engine(campaign, *, occurrence=lambda g: g.occurrence):
    return [
        (occurrence(g), g.profile_id, g.granted, g.reason, g.points)
        for g in Grant.objects.filter(campaign=campaign).order_by("pk")
    ]


def _last_sunday_midnight():
    """The latest Sunday 00:00 in the account timezone: the day and week limits then fall on the same
    events whatever the time the test runs (from `now`, the budget ran out only at some hours)."""
    local = timezone.now().astimezone(account_tzinfo())
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start - datetime.timedelta(days=(local.weekday() - 6) % 7)


def test_live_replay_agrees_grant_by_grant_with_the_engine_processing_the_same_events():
    now = _last_sunday_midnight()
    events = _history(now)
    draft, engine = _twins(now, **_config())

    replay, _, _ = forecast.live_replay(draft, days=30, now=now)
    for event in events:  # as they would have arrived: one by one, in time order
        live.events_process(event_ids=[event.pk])

    engine.refresh_from_db()
    assert _replayed(replay) == _engine(engine)
    # The window exercised the per-user caps before the campaign budget ran out, as the engine's did.
    assert {R.RECURRENCE_LIMIT, R.USER_BUDGET} & {d.reason for d in replay.decisions}
    assert replay.end_reason == limits.END_BUDGET and engine.status == C.Status.COMPLETED
    assert engine.end_reason == replay.end_reason
    assert Grant.objects.filter(campaign=draft).count() == 0  # the forecast wrote nothing


@pytest.mark.parametrize("budget", [None, 100_000])
def test_live_replay_agrees_with_the_engine_on_recurrence_and_user_budget_without_running_out(budget):
    now = timezone.now()
    events = _history(now, seed=11)
    draft, engine = _twins(now, **_config(budget_campaign=budget, past_filter={}, budget_per_user=300))

    replay, _, _ = forecast.live_replay(draft, days=30, now=now)
    for event in events:
        live.events_process(event_ids=[event.pk])

    assert _replayed(replay) == _engine(engine)
    assert {R.RECURRENCE_LIMIT, R.USER_BUDGET} <= {d.reason for d in replay.decisions}
    assert not replay.end_reason


def test_coupon_replay_counts_codes_down_without_claiming_one_and_agrees_with_the_engine():
    now = timezone.now()
    events = _history(now, seed=3)

    def series():
        coupon = BulkCouponFactory(name="Diwali")
        coupon_services.code_generation_start(
            coupon=coupon,
            code_format="alphanumeric",
            length=8,
            prefix="D-",
            suffix="",
            count=7,
            actor=None,
            run_now=True,
        )
        coupon.refresh_from_db()
        return coupon

    config = {"reward_type": C.RewardType.COUPON, "coupon_kind": "bulk", "wallet": None, "max_codes_per_user": 2}
    triggers = [{"event": "Charged", "filters": []}]
    draft = CampaignFactory(
        name="Draft", qualification=C.Qualification.LIVE_ACTION, triggers=triggers, coupon=series(), **config
    )
    engine = running_live(starts_at=now - datetime.timedelta(days=31), triggers=triggers, coupon=series(), **config)

    replay, since, until = forecast.live_replay(draft, days=30, now=now)
    assert CodeAssignment.objects.count() == 0
    for event in events:
        live.events_process(event_ids=[event.pk])

    assert [row[:4] for row in _replayed(replay)] == [row[:4] for row in _engine(engine)]
    assert replay.end_reason == limits.END_CODES_OUT.format(source="coupon series")
    report = forecast.live_report(draft, replay, since=since, until=until)
    assert f"the coupon series of 7 codes runs out on day {report['end_day']}" in report["summary"]


def test_inaction_replay_agrees_with_the_engine_checks():
    now = timezone.now()
    profiles = [ProfileFactory() for _ in range(4)]
    start = now - datetime.timedelta(days=5)
    events = []

    def add(profile, name, minutes, product):
        events.append(
            Event.objects.create(
                profile=profile,
                name=name,
                properties={"Product ID": product},
                occurred_at=start + datetime.timedelta(minutes=minutes),
                received_at=now,
            )
        )

    add(profiles[0], "Added To Cart", 0, "p1")
    add(profiles[0], "Charged", 10, "p1")  # B, same product: no reward
    add(profiles[1], "Added To Cart", 5, "p1")
    add(profiles[1], "Charged", 12, "p2")  # another product: rewarded
    add(profiles[2], "Added To Cart", 20, "p3")  # nothing after: rewarded
    add(profiles[2], "Added To Cart", 60 * 30, "p3")  # next day, rewarded again unless capped
    add(profiles[3], "Added To Cart", 25, None)  # no constant value: no check
    config = {
        "qualification": C.Qualification.LIVE_INACTION,
        "triggers": [],
        "inaction_event_a": "Added To Cart",
        "inaction_event_b": "Charged",
        "inaction_window_value": 30,
        "inaction_window_unit": C.WindowUnit.MINUTES,
        "constant_property": "Product ID",
        "points_type": C.PointsType.FLAT,
        "flat_points": 50,
        "max_per_user_total": 1,
    }
    wallet = WalletFactory(name="Supercoins")
    draft = CampaignFactory(name="Draft", reward_type=C.RewardType.POINTS, wallet=wallet, **config)
    engine = running_live(wallet=wallet, starts_at=now - datetime.timedelta(days=31), **config)

    replay, _, _ = forecast.live_replay(draft, days=30, now=now)
    live.events_process(event_ids=[e.pk for e in events])
    inaction.inaction_checks_process(now=now, batch=1)

    a_of = dict(InactionCheck.objects.filter(campaign=engine).values_list("pk", "event_a_id"))
    engine_rows = _engine(engine, occurrence=lambda g: f"check:a{a_of[int(g.occurrence.split(':')[1])]}")
    assert _replayed(replay) == engine_rows
    assert [row[2:4] for row in engine_rows] == [(True, ""), (True, ""), (False, R.RECURRENCE_LIMIT)]


def _cashback_report(*, buyers: int, percentage: int, budget: int) -> dict:
    """The forecast report of a draft live Percentage campaign over 30 days in which `buyers`
    profiles each placed one 1,000 order a day."""
    now = timezone.now()
    for profile in [ProfileFactory() for _ in range(buyers)]:
        for day in range(30):
            Event.objects.create(
                profile=profile,
                name="Charged",
                properties={"Amount": 1000},
                occurred_at=now - datetime.timedelta(days=30 - day, hours=-1),
                received_at=now,
            )
    draft = CampaignFactory(
        name="Cashback",
        qualification=C.Qualification.LIVE_ACTION,
        triggers=[{"event": "Charged", "filters": []}],
        reward_type=C.RewardType.POINTS,
        wallet=WalletFactory(),
        points_type=C.PointsType.PERCENTAGE,
        points_property="Amount",
        percentage=percentage,
        budget_campaign=budget,
    )
    replay, since, until = forecast.live_replay(draft, days=30, now=now)
    return forecast.live_report(draft, replay, since=since, until=until)


def test_report_says_when_the_budget_runs_out_at_last_months_pace():
    report = _cashback_report(buyers=20, percentage=5, budget=8_000)
    # 20 rewards of 50 points a day = 1,000 a day: the 8,000 budget is spent on the 8th day.
    assert report["rewards"] == 160 and Decimal(report["points"]) == 8000
    assert report["summary"].startswith("At last month's pace this campaign spends its 8,000 points budget in ")
    assert report["end_day"] in (8, 9)  # the window's first local day may be a partial one
    assert sum(d["rewards"] for d in report["per_day"]) == 160
    assert Decimal(report["largest"][0]["points"]) == 50


def test_bulk_forecast_flat_and_random_with_a_normal_range():
    flat = campaign_past(members=40, flat_points=100, budget_campaign=10_000)
    report = forecast.bulk_forecast(flat)
    assert report["audience"] == 40 and Decimal(report["points"]) == 4000 and report["method"] == "exact"
    assert "covers about 2 runs" in report["summary"]

    rnd = campaign_past(members=40, points_type=C.PointsType.RANDOM, random_min=1, random_max=100, random_favor="avg")
    report = forecast.bulk_forecast(rnd)
    assert Decimal(report["points"]) == Decimal("2020.000")  # 40 × 50.5
    assert Decimal(report["low"]) < Decimal(report["points"]) < Decimal(report["high"])
    assert "normal approximation" in report["summary"]


def test_forecast_panel_starts_the_job_shows_progress_then_the_result(marketer_client, monkeypatch):
    woken = []
    monkeypatch.setattr("accounts.outbox.outbox_wake", lambda *, topic, args=(): woken.append((topic, args)))
    campaign = running_live(status=C.Status.DRAFT, budget_campaign=500)
    url = f"/campaigns/{campaign.pk}/forecast/"

    response = marketer_client.post(url, {"days": "30"}, **HTMX)

    assert response.status_code == 200
    job = Forecast.objects.get(campaign=campaign)
    assert b'role="progressbar"' in response.content and b"every 1s" in response.content
    assert forecast.forecast_run(forecast_id=job.pk) == "done"
    page = marketer_client.get(url, **HTMX).content.decode()
    assert "every 1s" not in page and "No stored event of the last 30 days" in page


def test_bulk_forecast_of_codes_says_how_many_profiles_would_get_none():
    coupon = BulkCouponFactory(name="Diwali")
    coupon_services.code_generation_start(
        coupon=coupon, code_format="alphanumeric", length=8, prefix="D-", suffix="", count=5, actor=None, run_now=True
    )
    coupon.refresh_from_db()
    campaign = campaign_past(
        members=8,
        reward_type=C.RewardType.COUPON,
        coupon=coupon,
        coupon_kind="bulk",
        wallet=None,
        delivery=C.Delivery.RECURRING,
    )
    report = forecast.bulk_forecast(campaign)
    assert report["codes"] == 8 and report["codes_left"] == 5 and report["recurring"]
    assert "It takes 8 codes per run. Only 5 codes are left: 3 profiles would get none." in report["summary"]
    assert CodeAssignment.objects.count() == 0


def test_a_running_campaign_is_not_forecast_and_the_window_is_at_most_90_days(marketer_client, monkeypatch):
    monkeypatch.setattr("accounts.outbox.outbox_wake", lambda *, topic, args=(): True)
    running = running_live()
    refused = marketer_client.post(f"/campaigns/{running.pk}/forecast/", {"days": "30"}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 409 and 'id="forecast-panel"' in html  # the panel htmx swaps in, with why
    assert "Only a Draft or Scheduled campaign can be forecast; this one is Running." in html
    assert 'id="forecast-button"' not in html and not Forecast.objects.filter(campaign=running).exists()
    draft = running_live(status=C.Status.DRAFT)
    marketer_client.post(f"/campaigns/{draft.pk}/forecast/", {"days": "365"}, **HTMX)
    assert Forecast.objects.get(campaign=draft).days == forecast.MAX_DAYS


def test_a_forecast_no_worker_took_stops_polling_and_can_be_started_again(marketer_client, monkeypatch):
    monkeypatch.setattr("accounts.outbox.outbox_wake", lambda *, topic, args=(): True)
    draft = running_live(status=C.Status.DRAFT)
    url = f"/campaigns/{draft.pk}/forecast/"
    marketer_client.post(url, {"days": "30"}, **HTMX)
    Forecast.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=6))

    page = marketer_client.get(url, **HTMX).content.decode()

    assert "every 1s" not in page and "This forecast did not finish" in page
    assert 'id="forecast-button">' in page  # not disabled


def test_live_replay_leaves_the_holdout_group_out_as_the_engine_does(monkeypatch):
    # The split hashes (campaign, profile); here it follows the profile alone, so the draft and
    # its running twin (two campaign ids) hold out the same profiles.
    from promotions import holdout

    monkeypatch.setattr(
        holdout, "holdout_bucket", lambda *, campaign_id, profile_id: 0 if profile_id % 3 == 0 else 9_999
    )
    now = timezone.now()
    events = _history(now, seed=11)
    draft, engine = _twins(now, **_config(budget_campaign=None, past_filter={}, holdout_percent=30))

    replay, _, _ = forecast.live_replay(draft, days=30, now=now)
    for event in events:
        live.events_process(event_ids=[event.pk])

    held = [g for g in _engine(engine) if g[3] == R.HELD_OUT]
    assert held and replay.held_out == len(held)
    assert _replayed(replay) == [g for g in _engine(engine) if g[3] != R.HELD_OUT]
    assert any("holdout group" in note for note in replay.approximations)


def test_a_budget_that_runs_dry_before_its_last_point_is_reported_on_the_day_it_ran_dry():
    # 1,000-point orders at 7 % give 70 points: a 1,000 budget is spent down to 20 and then every
    # reward is refused, but never used up to the last point, so the campaign is not completed.
    report = _cashback_report(buyers=5, percentage=7, budget=1_000)
    # 5 rewards of 70 a day: 14 rewards (980 points) over days 1-3, the first refusal on day 3.
    assert (report["rewards"], Decimal(report["points"])) == (14, 980)
    assert not report["end_reason"] and report["budget_dry_day"] in (3, 4)
    refused = report["refused"][str(R.CAMPAIGN_BUDGET)]
    assert refused == 150 - 14
    assert report["summary"].startswith(
        f"At last month's pace this campaign spends 980 of its 1,000 points budget by day {report['budget_dry_day']} "
        f"({report['budget_dry_date']}); after that {refused} triggers find too little budget left."
    )
    assert report["largest"][0]["identity"] == Profile.objects.get(pk=report["largest"][0]["profile_id"]).identity
