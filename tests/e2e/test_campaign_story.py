"""The Who summary in words, the exact count at publish and Send now starting at publish (issue #16)."""

import pytest
from playwright.sync_api import expect

from config.celery import app
from promotions.models import Campaign, CampaignRun
from tests.e2e.conftest import sign_in
from tests.e2e.test_builder import PASSWORD, publish_button, section
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)

RULES = {
    "op": "and",
    "rules": [
        {
            "type": "did",
            "event": "Charged",
            "window": {"type": "last", "amount": 30, "unit": "days"},
            "filters": [{"property": "Amount", "operator": "greater_than", "value": 1000, "value_type": "number"}],
        },
        {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune", "value_type": "string"},
    ],
}
IN_WORDS = "Did Charged at least once in the last 30 days, where Amount > 1000, and City is Pune"


@pytest.fixture
def eager_worker():
    """A worker that runs each task as it is sent: what a started run does shows at once."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_who_in_words_exact_count_and_send_now_starts_at_publish(page, screenshot, eager_worker):
    UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    campaign = campaign_past(
        members=3,
        name="Pune big spenders",
        status=Campaign.Status.DRAFT,
    )
    sign_in(page, "mia", PASSWORD)
    page.goto(f"/campaigns/{campaign.pk}/edit/")
    # Review the Who card: a custom list of three; the exact count is shown before publishing.
    who_card = section(page, "Publish").locator(".card", has_text="Who")
    expect(who_card).to_contain_text("Custom list")
    expect(page.locator("#publish-audience")).to_have_text(
        "Exact audience now: 3 profiles. Counted just now; each run counts again when it starts."
    )
    publish_button(page).click()

    # No 30 s wait for the sweep: the run started at publish and (one chunk) finished.
    expect(page.locator("#campaign-status")).to_have_text("Completed")
    expect(page.locator("#messages")).to_contain_text("Exact audience at publish: 3 profiles.")
    expect(page.locator("#published-audience")).to_have_text("Exact audience at publish: 3 profiles.")
    expect(page.locator("#stat-rewards-given")).to_have_text("3")
    run = campaign.runs.get()
    assert (run.status, run.processed, run.granted) == (CampaignRun.Status.COMPLETED, 3, 3)
    screenshot()


def test_rules_read_in_words_in_the_builder_and_on_the_campaign_page(page, screenshot):
    UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    for city in ("Pune", "Delhi"):
        ProfileFactory(properties={"City": city})
    campaign = campaign_past(
        members=0,
        name="Pune big spenders",
        status=Campaign.Status.DRAFT,
        qualification=Campaign.Qualification.PAST_BEHAVIOR,
        audience_source=Campaign.AudienceSource.RULES,
        custom_list=None,
        rules=RULES,
    )
    sign_in(page, "mia", PASSWORD)
    page.goto(f"/campaigns/{campaign.pk}/edit/")
    publish = section(page, "Publish")
    expect(publish.get_by_text(IN_WORDS, exact=True)).to_be_visible()
    expect(publish.get_by_text("Built here")).to_have_count(0)
    expect(publish.get_by_text("≈ 0 profiles", exact=True)).to_be_visible()
    page.goto(campaign.get_absolute_url())
    expect(page.get_by_text(IN_WORDS, exact=True)).to_be_visible()
    screenshot()
