"""The rule builder in a real browser: its controls, the hidden `rules` input the JS keeps current, saving."""

import json

import pytest
from playwright.sync_api import expect

from segments.models import EventDefinition, EventPropertyDefinition, ProfilePropertyDefinition, Segment
from segments.rules import validate_rules
from tests.e2e.conftest import browser, page, screenshot, sign_in  # noqa: F401
from tests.factories import UserFactory
from tests.segments.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _catalogue():
    charged = EventDefinition.objects.create(name="Charged")
    EventDefinition.objects.create(name="Product Viewed")
    EventPropertyDefinition.objects.create(event=charged, name="Amount", type="number")
    ProfilePropertyDefinition.objects.create(name="City", type="string")


def _settle(pg):
    """Wait until the builder's re-render (after a dropdown change or a button) has landed."""
    pg.wait_for_timeout(50)
    expect(pg.locator(".rule-builder.htmx-request, .rule-builder .htmx-request")).to_have_count(0)


def _hidden_rules(pg):
    return json.loads(pg.locator("#id_rules").input_value())


def test_marketer_builds_a_segment_with_the_visual_controls(page, screenshot):  # noqa: F811
    _catalogue()
    big = ProfileFactory(identity="big", properties={"City": "Pune"})
    EventFactory(profile=big, name="Charged", properties={"Amount": 900})
    EventFactory(profile=ProfileFactory(identity="small", properties={"City": "Pune"}), properties={"Amount": 5})
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    sign_in(page, "mia", "a-long-demo-password")
    page.goto("/audience/segments/new/")
    page.get_by_label("Name", exact=True).fill("Big spenders")

    page.get_by_label("Event", exact=True).select_option("Charged")
    _settle(page)
    page.get_by_role("button", name="+ Property filter").click()
    _settle(page)
    page.get_by_label("Property", exact=True).select_option("Amount")
    _settle(page)
    expect(page.get_by_label("Value type")).to_have_value("number")
    page.get_by_label("Operator").select_option("greater_than")
    _settle(page)
    page.get_by_label("Value", exact=True).fill("500")
    expect(page.locator("#rule-estimate")).to_contain_text("≈ 1 profiles")

    page.get_by_role("button", name="+ Add rule").click()
    _settle(page)
    page.get_by_label("Rule 2 type").select_option("user_property")
    _settle(page)
    page.locator("#id_rb-rules-1-property").select_option("City")
    _settle(page)
    page.locator("#id_rb-rules-1-value").fill("Pune")
    expected = {
        "op": "and",
        "rules": [
            {
                "type": "did",
                "event": "Charged",
                "window": {"type": "ever"},
                "filters": [{"property": "Amount", "operator": "greater_than", "value": 500, "value_type": "number"}],
            },
            {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune"},
        ],
    }
    assert validate_rules(_hidden_rules(page)) == validate_rules(expected)
    page.get_by_role("button", name="Test / show matches").click()
    expect(page.locator("#rule-explain")).to_contain_text("big")
    screenshot()
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("link", name="Big spenders")).to_be_visible()
    segment = Segment.objects.get(name="Big spenders")
    assert segment.rules == validate_rules(expected)
    assert segment.audience_size == 1


def test_the_builder_works_inside_the_campaign_who_form(page, screenshot):  # noqa: F811
    from promotions.models import Campaign
    from tests.promotions.factories import CampaignFactory

    _catalogue()
    EventFactory(name="Charged", properties={"Amount": 900})
    campaign = CampaignFactory(qualification=Campaign.Qualification.PAST_BEHAVIOR)
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    sign_in(page, "mia", "a-long-demo-password")
    page.goto(f"/campaigns/{campaign.pk}/edit/")
    page.get_by_label("Rules built here").check()
    expect(page.locator("#rule-builder")).to_be_visible()
    page.get_by_label("Match all or any").select_option("or")
    _settle(page)
    page.get_by_label("Event", exact=True).select_option("Charged")
    _settle(page)
    page.get_by_label("Time window").select_option("last")
    _settle(page)
    page.get_by_label("How many").fill("30")
    page.get_by_label("Unit").select_option("days")
    _settle(page)
    expect(page.locator("#rule-estimate")).to_contain_text("≈ 1 profiles")
    screenshot()
    page.get_by_role("button", name="Save and continue").click()
    expected = {
        "op": "or",
        "rules": [{"type": "did", "event": "Charged", "window": {"type": "last", "amount": 30, "unit": "days"}}],
    }
    expect(page.locator("#section-who")).not_to_have_class("section open")
    campaign.refresh_from_db()
    assert campaign.rules == validate_rules(expected)
    assert campaign.who_complete
