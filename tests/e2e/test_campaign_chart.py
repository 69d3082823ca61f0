"""A marketer reads a live campaign's rewards over time and switches the chart from days to weeks (SPEC 5)."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.account import account_tzinfo
from promotions.models import Campaign, Grant
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_live
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-long-demo-password"


def test_marketer_switches_the_campaign_chart_between_days_and_weeks(page, screenshot):
    UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    campaign = campaign_live(status=Campaign.Status.RUNNING, starts_at=timezone.now() - datetime.timedelta(days=20))
    now = timezone.now()
    for days_ago, rewards in ((0, 3), (1, 5), (8, 2), (15, 4)):
        for i in range(rewards):
            Grant.objects.create(
                campaign=campaign,
                profile=ProfileFactory(),
                occurrence=f"event:{days_ago}-{i}",
                granted=True,
                points=10,
                created_at=now - datetime.timedelta(days=days_ago),
            )
    sign_in(page, "mia", PASSWORD)
    page.goto(f"/campaigns/{campaign.pk}/")

    chart = page.locator("#campaign-chart")
    expect(chart.get_by_role("heading", name="Rewards over time")).to_be_visible()
    expect(chart.get_by_role("img", name="Rewards given and profiles rewarded per day")).to_be_visible()
    expect(chart.locator("svg.bar-chart rect")).to_have_count(8 + 4)  # rewards and profiles, then points, on 4 days

    chart.get_by_role("link", name="Week").click()
    expect(page).to_have_url(f"{page.url.split('?')[0]}?period=week")
    expect(chart.get_by_role("img", name="Rewards given and profiles rewarded per week")).to_be_visible()
    chart.get_by_text("As a table").click()
    expect(chart.locator("#campaign-chart-table tbody tr")).to_have_count(
        len({_local_day(now - datetime.timedelta(days=d)).isocalendar()[:2] for d in range(21)})
    )
    expect(chart.locator("#campaign-chart-table tbody tr").first.locator("td").nth(1)).to_have_text(
        str(sum(r for d, r in ((0, 3), (1, 5), (8, 2), (15, 4)) if _same_week(now, d)))
    )
    screenshot()


def _local_day(at) -> datetime.date:
    """The day `at` falls on in the account timezone, which the chart buckets by (not UTC)."""
    return timezone.localdate(at, timezone=account_tzinfo())


def _same_week(now, days_ago) -> bool:
    today = _local_day(now)
    day = _local_day(now - datetime.timedelta(days=days_ago))
    return today.isocalendar()[:2] == day.isocalendar()[:2]
