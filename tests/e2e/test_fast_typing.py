"""A re-render never drops what the marketer typed (issue #16, the silent loss of configuration).

The marketer types without pausing: a choice's re-render is still in flight when the next fields
are filled. The browser holds that re-render's answer (Playwright's route) until the typing is done,
so the race happens every time, not one run in five.
"""

import re

import pytest
from playwright.sync_api import expect

from promotions.models import Campaign
from tests.e2e.conftest import sign_in
from tests.e2e.test_builder import PASSWORD, save, section, settled, swap
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_live

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_at_what():
    """A live user-action campaign (one Charged trigger) whose What section is still open."""
    user = UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    return campaign_live(user=user, name="Cashback", what_complete=False, when_complete=False)


class Held:
    """Holds every section re-render (`?refresh=`) until release(): the request stays in flight."""

    def __init__(self, page):
        self.page, self.routes, self.holding = page, [], True
        page.route(re.compile(r"refresh="), self.handle)

    def handle(self, route):
        if self.holding:
            self.routes.append(route)
        else:
            route.continue_()

    def wait(self, count=1):
        for _ in range(100):
            if len(self.routes) >= count:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError(f"expected {count} re-render request(s) in flight, saw {len(self.routes)}")

    def release(self):
        self.holding = False
        with settled(self.page):
            for route in self.routes:
                route.continue_()
        self.page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def open_what(page, campaign):
    sign_in(page, "mia", PASSWORD)
    page.goto(f"/campaigns/{campaign.pk}/edit/")
    return section(page, "What")


def test_budget_then_limits_typed_without_pausing_are_all_saved(page, screenshot, live_at_what):
    what = open_what(page, live_at_what)
    with swap(page):
        what.get_by_label("Random", exact=True).check()
    what.get_by_label("Min", exact=True).fill("10")
    what.get_by_label("Max", exact=True).fill("100")
    what.get_by_label("Favor Avg", exact=True).check()
    expect(what.locator("#random-expectation")).to_contain_text("Expected points per reward")
    page.wait_for_function("!document.querySelector('.htmx-request')")

    held = Held(page)
    budget = what.get_by_label("Campaign budget (points, optional)")
    budget.fill("500")
    budget.press("Tab")  # the budget's change asks for the expected-reward note …
    held.wait()
    # … and the marketer moves straight on while it is in flight.
    what.get_by_label("Per-user budget (points, optional)").fill("150")
    what.get_by_label("Per day", exact=True).fill("2")
    held.release()

    expect(what.get_by_label("Per-user budget (points, optional)")).to_have_value("150")
    expect(what.get_by_label("Per day", exact=True)).to_have_value("2")
    expect(what.locator("#random-expectation")).to_contain_text("The campaign budget of 500 points covers about")
    save(page, "What")

    live_at_what.refresh_from_db()
    assert live_at_what.points_type == Campaign.PointsType.RANDOM
    assert (live_at_what.random_min, live_at_what.random_max) == (10, 100)
    assert (live_at_what.budget_campaign, live_at_what.budget_per_user) == (500, 150)
    assert live_at_what.max_per_user_day == 2
    screenshot()


def test_values_typed_while_the_section_re_renders_for_a_choice_are_kept(page, screenshot, live_at_what):
    what = open_what(page, live_at_what)
    held = Held(page)
    what.get_by_label("Percentage", exact=True).check()  # shows other fields: the section re-renders
    held.wait()
    what.get_by_label("Campaign budget (points, optional)").fill("500")
    what.get_by_label("Per day", exact=True).fill("2")
    what.get_by_label("Max times per user in total", exact=True).fill("7")
    held.release()

    # The choice's answer is on screen (Percentage's fields) with everything typed meanwhile.
    expect(what.get_by_label("Percentage (%)")).to_be_visible()
    expect(what.get_by_label("Campaign budget (points, optional)")).to_have_value("500")
    expect(what.get_by_label("Per day", exact=True)).to_have_value("2")
    expect(what.get_by_label("Max times per user in total", exact=True)).to_have_value("7")
    what.get_by_label("Event property", exact=True).select_option("Amount")
    what.get_by_label("Percentage (%)").fill("5")
    save(page, "What")

    live_at_what.refresh_from_db()
    assert live_at_what.points_type == Campaign.PointsType.PERCENTAGE
    assert (live_at_what.budget_campaign, live_at_what.max_per_user_day, live_at_what.max_per_user_total) == (
        500,
        2,
        7,
    )
    screenshot()


def test_a_choice_changed_while_a_re_render_is_in_flight_wins(page, live_at_what):
    what = open_what(page, live_at_what)
    held = Held(page)
    what.get_by_label("Random", exact=True).check()
    held.wait()
    what.get_by_label("Percentage", exact=True).check()  # changed again before the first answer
    held.release()
    # The first answer (Random) lands, then the newer choice is asked for again and shown.
    expect(what.get_by_label("Percentage (%)")).to_be_visible()
    expect(what.get_by_label("Percentage", exact=True)).to_be_checked()
    expect(what.get_by_label("Min", exact=True)).to_have_count(0)


def test_rule_builder_value_typed_while_a_row_re_renders_is_kept_and_saved(page):
    from segments import services as segment_services
    from segments.models import Segment
    from tests.e2e.test_journeys import builder_swap

    UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    segment_services.upload_records(
        records=[
            {"type": "profile", "identity": "u1", "profileData": {"City": "Pune", "Device": "iOS"}},
            {"type": "event", "identity": "u1", "evtName": "Charged", "evtData": {"Amount": 5}},
        ]
    )
    sign_in(page, "mia", PASSWORD)
    page.goto("/audience/segments/new/")
    page.get_by_label("Name", exact=True).fill("Pune buyers")
    builder = page.locator("#rule-builder")
    with builder_swap(page):
        builder.locator("li.rb-row").nth(0).get_by_label("Rule 1 type").select_option(label="User property")
    with builder_swap(page):
        builder.locator("li.rb-row").nth(0).get_by_label("Property", exact=True).select_option("City")
    with builder_swap(page):
        builder.get_by_role("button", name="+ Add rule").click()

    held, holding = [], [True]
    page.route("**/audience/rules/builder/", lambda route: held.append(route) if holding[0] else route.continue_())
    builder.locator("li.rb-row").nth(1).get_by_label("Event", exact=True).select_option("Charged")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the row's re-render should be in flight"
    builder.locator("li.rb-row").nth(0).get_by_label("Value", exact=True).fill("Pune")  # typed meanwhile
    holding[0] = False
    with settled(page):
        held[0].continue_()
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")

    expect(builder.locator("li.rb-row").nth(0).get_by_label("Value", exact=True)).to_have_value("Pune")
    expect(builder.locator("li.rb-row").nth(1).get_by_label("Event", exact=True)).to_have_value("Charged")
    page.get_by_role("button", name="Save segment").click()
    expect(page).not_to_have_url(re.compile(r"/segments/new/$"))
    rules = Segment.objects.get(name="Pune buyers").rules["rules"]
    assert rules[0]["value"] == "Pune" and rules[1]["event"] == "Charged"


def test_enter_in_a_field_saves_the_section_and_adds_no_metadata_row(page, live_at_what):
    what = open_what(page, live_at_what)
    budget = what.get_by_label("Campaign budget (points, optional)")
    budget.fill("6000")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    with settled(page):
        budget.press("Enter")  # the first submit button is Save: "+ Add metadata row" is a plain button
    expect(page.locator('input[name="metadata_key_1"]')).to_have_count(0)
    live_at_what.refresh_from_db()
    assert live_at_what.budget_campaign == 6000
    assert live_at_what.what_complete


def test_add_metadata_row_still_adds_a_row_and_keeps_what_was_typed(page, live_at_what):
    what = open_what(page, live_at_what)
    what.get_by_label("Campaign budget (points, optional)").fill("700")
    page.wait_for_function("!document.querySelector('.htmx-request')")
    with settled(page):
        what.get_by_role("button", name="+ Add metadata row").click()
    expect(page.locator('input[name="metadata_key_1"]')).to_have_count(1)
    expect(section(page, "What").get_by_label("Campaign budget (points, optional)")).to_have_value("700")
