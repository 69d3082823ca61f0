"""Journey (issue #21): a marketer building a live Percentage campaign with a budget clicks
Forecast in the Publish step, watches the progress, and reads when the budget would run out at
last month's pace."""

import datetime
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone
from playwright.sync_api import expect

from promotions import forecast
from promotions.models import Campaign
from segments.models import Event
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_live
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(monkeypatch):
    """The Celery worker, as a thread woken by the task's outbox wake-up (after a pause, so the
    waiting state shows)."""

    def run(forecast_id):
        time.sleep(1.5)
        try:
            forecast.forecast_run(forecast_id=forecast_id)
        finally:
            connection.close()

    def wake(*, topic, args=()):
        assert topic == forecast.TASK
        threading.Thread(target=run, args=args, daemon=True).start()
        return True

    monkeypatch.setattr("accounts.outbox.outbox_wake", wake)


def test_forecast_a_live_percentage_campaign_before_publishing(page, screenshot, monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)
    _worker(monkeypatch)
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    now = timezone.now()
    profiles = [ProfileFactory() for _ in range(20)]
    Event.objects.bulk_create(
        Event(
            profile=p,
            name="Charged",
            properties={"Amount": 1000, "Payment Mode": "card"},
            occurred_at=now - datetime.timedelta(days=30 - day, hours=-2),
            received_at=now,
        )
        for day in range(30)
        for p in profiles
    )
    campaign = campaign_live(
        name="Weekend cashback",
        points_type=Campaign.PointsType.PERCENTAGE,
        points_property="Amount",
        percentage=5,
        budget_campaign=8000,
    )

    sign_in(page, "mia", "a-long-demo-password")
    page.goto(f"/campaigns/{campaign.pk}/edit/?section=publish")
    panel = page.locator("#forecast-panel")
    expect(panel.get_by_role("heading", name="Forecast")).to_be_visible()
    expect(page.get_by_label("Replay the last")).to_have_value("30")
    panel.get_by_role("button", name="Forecast").click()

    expect(page.get_by_role("progressbar", name="Forecast progress")).to_be_visible()
    expect(page.locator("#forecast-button")).to_be_disabled()
    screenshot("forecast_in_progress")

    summary = page.locator("#forecast-summary")
    expect(summary).to_contain_text("At last month's pace this campaign spends its 8,000 points budget in ")
    expect(page.locator("#forecast-end")).to_contain_text("Campaign points budget used up on day")
    expect(page.locator("#forecast-totals")).to_contain_text("160")
    expect(page.get_by_role("img", name="Forecast points per day")).to_be_visible()
    expect(page.get_by_role("progressbar", name="Forecast progress")).to_have_count(0)
    screenshot()

    # The same panel on the Draft's own page, with the latest result.
    page.goto(f"/campaigns/{campaign.pk}/")
    expect(page.locator("#forecast-summary")).to_contain_text("points budget in ")
    screenshot("forecast_on_campaign_page")
