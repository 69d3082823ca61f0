"""What a polished product does, in a browser (issue #16): kept exact counts, titles, no stray 404s."""

import pytest
from playwright.sync_api import expect

from segments import services as segment_services
from tests.e2e.conftest import sign_in
from tests.e2e.test_builder import PASSWORD, save, section
from tests.e2e.test_journeys import builder_swap
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mia():
    return UserFactory(username="mia", groups=["Marketer"], password=PASSWORD, first_name="Mia", last_name="Rao")


def test_exact_count_clicked_right_after_typing_is_kept(page, mia):
    segment_services.upload_records(
        records=[
            {"type": "profile", "identity": "u1", "profileData": {"City": "Pune"}},
            {"type": "profile", "identity": "u2", "profileData": {"City": "Pune"}},
            {"type": "profile", "identity": "u3", "profileData": {"City": "Mumbai"}},
        ]
    )
    sign_in(page, "mia", PASSWORD)
    page.goto("/audience/segments/new/")
    builder = page.locator("#rule-builder")
    rule = builder.locator("li.rb-row").nth(0)
    with builder_swap(page):
        rule.get_by_label("Rule 1 type").select_option(label="User property")
    rule = builder.locator("li.rb-row").nth(0)
    with builder_swap(page):
        rule.get_by_label("Property", exact=True).select_option("City")
    rule = builder.locator("li.rb-row").nth(0)
    with page.expect_response(lambda r: "/audience/rules/estimate/" in r.url):
        rule.get_by_label("Value", exact=True).fill("Pune")
    estimate = page.locator("#rule-estimate")
    expect(estimate).to_contain_text("≈ 2 profiles")

    # Type, and click Exact count at once: the estimate typing scheduled must not wipe the count.
    rule.get_by_label("Value", exact=True).fill("Mumbai")
    with page.expect_response(lambda r: "/audience/rules/count/" in r.url):
        estimate.get_by_role("button", name="Exact count").click()
    expect(page.locator("#rule-estimate")).to_contain_text("exact: 1")
    page.wait_for_timeout(1500)  # past the 600 ms debounce of the estimate
    expect(page.locator("#rule-estimate")).to_contain_text("exact: 1")

    # Changed rules: the estimate takes over again.
    with page.expect_response(lambda r: "/audience/rules/estimate/" in r.url):
        rule.get_by_label("Value", exact=True).fill("Pune")
    expect(page.locator("#rule-estimate")).to_contain_text("≈ 2 profiles")
    expect(page.locator("#rule-estimate")).not_to_contain_text("exact")


def test_builder_title_says_edit_campaign_once_the_draft_exists_and_no_favicon_404(page, mia):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    sign_in(page, "mia", PASSWORD)
    page.goto("/campaigns/new/")
    expect(page).to_have_title("Create campaign · Promo Campaigns")
    expect(page.get_by_role("heading", name="Create campaign", level=1)).to_be_visible()
    section(page, "Start here").get_by_label("Campaign name", exact=True).fill("Welcome points")
    save(page, "Start here")
    expect(page).to_have_title("Edit campaign · Promo Campaigns")
    expect(page.get_by_role("heading", name="Edit campaign", level=1)).to_be_visible()
    expect(page.locator("#builder-header")).to_contain_text("Welcome points")
    page.goto("/campaigns/")
    assert missing == [], missing
