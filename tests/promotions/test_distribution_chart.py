"""The chart over time on the detail page of live and recurring campaigns (SPEC 5)."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.account import account_tzinfo
from promotions import selectors
from promotions.models import Campaign, Grant
from tests.promotions.helpers import HTMX, campaign_live, campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")  # UTC+05:30: local midnight is 18:30 UTC the day before
UTC = datetime.UTC


def grant(campaign, profile, at, points, *, granted=True):
    return Grant.objects.create(
        campaign=campaign,
        profile=profile,
        occurrence=f"event:{at.timestamp()}",
        granted=granted,
        reason="" if granted else Grant.Reason.CAMPAIGN_BUDGET,
        points=points if granted else None,
        created_at=at,
    )


@pytest.fixture
def boundary_grants():
    """Three rewards a minute apart around local midnights; in UTC the first two share a day."""
    campaign = campaign_live(starts_at=datetime.datetime(2026, 10, 30, 9, 0, tzinfo=KOLKATA))
    first, second = ProfileFactory(), ProfileFactory()
    grant(campaign, first, datetime.datetime(2026, 10, 31, 18, 29, tzinfo=UTC), 10)  # Sat 31 Oct 23:59 local
    grant(campaign, second, datetime.datetime(2026, 10, 31, 18, 30, tzinfo=UTC), 20)  # Sun 1 Nov 00:00 local
    grant(campaign, second, datetime.datetime(2026, 11, 1, 18, 30, tzinfo=UTC), 30)  # Mon 2 Nov 00:00 local
    grant(campaign, first, datetime.datetime(2026, 11, 1, 19, 0, tzinfo=UTC), 40, granted=False)
    return campaign


def table(series):
    return [(b.start.isoformat(), b.rewards, b.profiles, b.points) for b in series]


def test_days_are_cut_at_local_midnight_from_the_campaign_start(boundary_grants):
    series = selectors.campaign_grant_series(
        campaign=boundary_grants, period="day", tz=KOLKATA, today=datetime.date(2026, 11, 4)
    )
    assert table(series) == [
        ("2026-10-30", 0, 0, Decimal(0)),
        ("2026-10-31", 1, 1, Decimal(10)),
        ("2026-11-01", 1, 1, Decimal(20)),
        ("2026-11-02", 1, 1, Decimal(30)),
        ("2026-11-03", 0, 0, Decimal(0)),
        ("2026-11-04", 0, 0, Decimal(0)),
    ]


def test_weeks_start_on_local_monday(boundary_grants):
    series = selectors.campaign_grant_series(
        campaign=boundary_grants, period="week", tz=KOLKATA, today=datetime.date(2026, 11, 4)
    )
    assert table(series) == [("2026-10-26", 2, 2, Decimal(30)), ("2026-11-02", 1, 1, Decimal(30))]


def test_months_count_a_profile_rewarded_twice_once(boundary_grants):
    series = selectors.campaign_grant_series(
        campaign=boundary_grants, period="month", tz=KOLKATA, today=datetime.date(2026, 11, 4)
    )
    assert table(series) == [("2026-10-01", 1, 1, Decimal(10)), ("2026-11-01", 2, 1, Decimal(50))]


def test_the_same_rewards_bucket_differently_in_utc(boundary_grants):
    series = selectors.campaign_grant_series(
        campaign=boundary_grants, period="day", tz=zoneinfo.ZoneInfo("UTC"), today=datetime.date(2026, 11, 4)
    )
    assert ("2026-10-31", 2, 2, Decimal(30)) in table(series)


def test_window_keeps_the_last_buckets_of_a_long_running_campaign():
    campaign = campaign_live(starts_at=datetime.datetime(2024, 1, 1, tzinfo=KOLKATA))
    today = datetime.date(2026, 3, 15)
    months = selectors.campaign_grant_series(campaign=campaign, period="month", tz=KOLKATA, today=today)
    assert [b.start for b in months][0] == datetime.date(2025, 4, 1)
    assert [b.start for b in months][-1] == datetime.date(2026, 3, 1) and len(months) == 12
    days = selectors.campaign_grant_series(campaign=campaign, period="day", tz=KOLKATA, today=today)
    assert len(days) == 30 and days[-1].start == today


def test_series_is_one_query_whatever_the_number_of_rewards(boundary_grants, django_assert_num_queries):
    for _ in range(20):
        grant(boundary_grants, ProfileFactory(), datetime.datetime(2026, 11, 3, 6, 0, tzinfo=UTC), 5)
    with django_assert_num_queries(1):
        series = selectors.campaign_grant_series(
            campaign=boundary_grants, period="week", tz=KOLKATA, today=datetime.date(2026, 11, 4)
        )
    assert series[-1].rewards == 21


# --- the page and its HTMX partial ------------------------------------------------------------


def test_live_campaign_page_shows_the_daily_chart_with_todays_rewards(marketer_client):
    campaign = campaign_live(status=Campaign.Status.RUNNING, starts_at=timezone.now() - datetime.timedelta(days=2))
    profile = ProfileFactory()
    grant(campaign, profile, timezone.now(), 10)
    grant(campaign, profile, timezone.now() - datetime.timedelta(seconds=5), 15)
    content = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert 'id="campaign-chart"' in content
    assert '<svg class="bar-chart" role="img" aria-label="Rewards given and profiles rewarded per day"' in content
    assert 'aria-label="Points given per day"' in content
    today = timezone.localdate(timezone=account_tzinfo())  # the chart's days are the account's
    row = (
        f'<td class="nowrap">{today:%-d %b %Y}</td>\n'
        '            <td class="num">2</td><td class="num">1</td><td class="num">25</td>'
    )
    assert row in content
    assert f"{today:%d %b %Y} · Rewards given: 2" in content


def test_period_switch_renders_only_the_chart_partial(marketer_client):
    campaign = campaign_live(status=Campaign.Status.RUNNING, starts_at=timezone.now() - datetime.timedelta(days=40))
    grant(campaign, ProfileFactory(), timezone.now(), 10)
    response = marketer_client.get(f"/campaigns/{campaign.pk}/?period=month", HTTP_HX_TARGET="campaign-chart", **HTMX)
    partial = response.content.decode()
    assert response.status_code == 200
    assert partial.lstrip().startswith('<div id="campaign-chart"') and "<html" not in partial
    assert 'aria-label="Rewards given and profiles rewarded per month"' in partial
    assert f'<td class="nowrap">{timezone.localdate(timezone=account_tzinfo()):%B %Y}</td>' in partial
    assert 'href="?period=month"\n         aria-current="true"' in partial


def test_unknown_period_falls_back_to_days(marketer_client):
    campaign = campaign_live(status=Campaign.Status.RUNNING)
    partial = marketer_client.get(
        f"/campaigns/{campaign.pk}/?period=decade", HTTP_HX_TARGET="campaign-chart", **HTMX
    ).content.decode()
    assert 'aria-label="Rewards given and profiles rewarded per day"' in partial


def test_recurring_campaign_has_the_chart_and_a_one_time_campaign_does_not(marketer_client):
    today = timezone.localdate()
    recurring = campaign_past(
        delivery=Campaign.Delivery.RECURRING,
        frequency=Campaign.Frequency.DAILY,
        run_time=datetime.time(9, 0),
        recurrence_start=today,
        recurrence_end=today + datetime.timedelta(days=3),
    )
    once = campaign_past()
    assert 'id="campaign-chart"' in marketer_client.get(f"/campaigns/{recurring.pk}/").content.decode()
    assert 'id="campaign-chart"' not in marketer_client.get(f"/campaigns/{once.pk}/").content.decode()
