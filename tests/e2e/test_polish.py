"""What a polished product does, in a browser (issue #16): kept exact counts, titles, no stray 404s."""

import pytest
from playwright.sync_api import expect

from segments import services as segment_services
from tests.e2e.conftest import ARTIFACTS, sign_in
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


def _box(locator):
    box = locator.bounding_box()
    assert box is not None
    return box


def test_layout_at_1400px_filters_and_actions_on_one_line_rule_rows_keep_remove(browser, live_server, mia):
    from promotions.models import Campaign
    from tests.promotions.helpers import campaign_past

    campaign_past(user=mia, name="Draft idea", status=Campaign.Status.DRAFT, members=0)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    sign_in(page, "mia", PASSWORD)
    page.goto("/campaigns/")
    tops = {round(_box(child)["y"] + _box(child)["height"]) for child in page.locator("#campaign-filters > *").all()}
    assert max(tops) - min(tops) <= 4, tops  # every filter and the button end on one line
    buttons = page.locator("#campaign-table .actions-row").first.locator(".btn").all()
    assert len(buttons) == 4  # Edit, Publish, Duplicate, Archive
    assert len({round(_box(b)["y"]) for b in buttons}) == 1

    page.goto("/audience/segments/new/")
    row = page.locator("li.rb-row").first
    type_select = _box(row.get_by_label("Rule 1 type"))
    remove = _box(row.get_by_role("button", name="Remove rule 1"))
    aggregate = _box(row.get_by_label("Aggregate", exact=True))
    middle = type_select["y"] + type_select["height"] / 2
    for box in (remove, aggregate):
        assert abs(box["y"] + box["height"] / 2 - middle) < 6, (box, type_select)

    page.goto("/audience/lists/")
    file_input = page.locator("input[type=file]").first
    assert file_input.evaluate("el => getComputedStyle(el).borderTopStyle") == "dashed"
    context.close()


def test_builder_radios_are_styled_and_centred_on_their_labels(page, mia):
    sign_in(page, "mia", PASSWORD)
    page.goto("/campaigns/new/")
    radio = page.get_by_label("Live behavior", exact=True)
    label = page.locator("label[for=id_behavior_1]")
    r, lbl = _box(radio), _box(label)
    assert abs((r["y"] + r["height"] / 2) - (lbl["y"] + lbl["height"] / 2)) < 3
    assert radio.evaluate("el => getComputedStyle(el).accentColor") == "rgb(79, 70, 229)"
    # The choices sit side by side, like the rest of the builder's choices.
    other = _box(page.get_by_label("Past behavior / Custom list", exact=True))
    assert abs(other["y"] - r["y"]) < 3


PHONE_PAGES = [
    ("campaigns", "/campaigns/"),
    ("builder", "/campaigns/new/"),
    ("campaign", None),
    ("audience", "/audience/"),
    ("segment_builder", "/audience/segments/new/"),
    ("events", "/audience/events/"),
    ("wallets", "/wallets/"),
    ("wallet", None),
    ("coupons", "/coupons/"),
    ("vouchers", "/vouchers/"),
    ("notifications", "/notifications/"),
]


def test_every_main_page_fits_a_390px_phone_screen_and_the_menu_reaches_every_section(browser, live_server, mia):
    """No page scrolls sideways on a phone: wide tables scroll inside their card, the menu scrolls."""
    from promotions.models import Campaign
    from tests.promotions.factories import WalletFactory
    from tests.promotions.helpers import campaign_past

    campaign = campaign_past(
        user=mia, name="A campaign with a rather long name for a phone", status=Campaign.Status.DRAFT, members=0
    )
    wallet = WalletFactory()
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, "mia", PASSWORD)
    urls = {"campaign": campaign.get_absolute_url(), "wallet": f"/wallets/{wallet.pk}/"}
    for name, url in PHONE_PAGES:
        page.goto(url or urls[name])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (name, width)
        page.screenshot(path=str(ARTIFACTS / f"phone_{name}.png"))
    menu = page.get_by_role("navigation", name="Main")
    for title in ("Campaigns", "Audience", "Wallets", "Coupons", "Vouchers"):
        link = menu.get_by_role("link", name=title, exact=True)
        link.scroll_into_view_if_needed()
        box = _box(link)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (title, box)
    with page.expect_navigation():
        menu.get_by_role("link", name="Vouchers", exact=True).click()
    assert page.url.endswith("/vouchers/")
    context.close()
