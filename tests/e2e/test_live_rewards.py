import pytest
from playwright.sync_api import expect

from promotions.engine import live
from segments.models import Event
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory
from tests.promotions.live_support import running_live
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_live_reward_shows_on_the_profile_and_the_campaign_budget(page, screenshot, monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    campaign = running_live(name="Weekend cashback", budget_campaign=100)
    profile = ProfileFactory(identity="asha@example.com")
    event = Event.objects.create(
        profile=profile, name="Charged", properties={"Amount": 250}, occurred_at=campaign.starts_at
    )
    live.events_process(event_ids=[event.pk])

    sign_in(page, "mia", "a-long-demo-password")
    page.goto(profile.get_absolute_url())
    rewards = page.locator("#profile-rewards")
    expect(rewards.get_by_role("link", name="Weekend cashback")).to_be_visible()
    expect(rewards.get_by_text("Granted")).to_be_visible()
    expect(rewards.get_by_text(f"event:{event.pk}")).to_be_visible()
    screenshot("live_reward_on_profile")

    rewards.get_by_role("link", name="Weekend cashback").click()
    budget = page.locator("#campaign-budget")
    expect(budget).to_contain_text("Points budget")
    expect(budget).to_contain_text("10 used · 90 left of 100")
    screenshot()
