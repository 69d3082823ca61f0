"""The campaign builder in a real browser (SPEC 4, 5): one campaign of each kind, empty to published.

Every step uses what a marketer reads on screen (labels, button names, section titles); the
catalogue rows the builder offers are created first through the apps' factories and services.
"""

import datetime
import re
import zoneinfo
from contextlib import contextmanager

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from coupons import services as coupon_services
from promotions.models import Campaign, CampaignRun
from segments.models import CustomListMember
from tests.coupons.factories import BulkCouponFactory
from tests.e2e.conftest import htmx_ready, sign_in
from tests.factories import UserFactory
from tests.promotions.factories import CustomListFactory, SegmentFactory, WalletFactory, event_definition
from tests.promotions.helpers import campaign_live, campaign_past
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import PartnerFactory, VoucherListFactory
from vouchers import services as voucher_services

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-demo-password"
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
TZ_LABEL = "(GMT+05:30) Asia/Kolkata"


@pytest.fixture
def catalogue():
    """What the builder offers: a wallet, a bulk series and a voucher list with codes, lists, events."""
    marketer = UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    profiles = ProfileFactory.create_batch(4)
    WalletFactory(name="Supercoins")
    coupon = BulkCouponFactory(name="DIWALI")
    coupon_services.code_generation_start(
        coupon=coupon, code_format="alphanumeric", length=8, prefix="DW-", suffix="", count=5, actor=None, run_now=True
    )
    partner = PartnerFactory(name="ShopCo")
    voucher_list = VoucherListFactory(partner=partner, name="Festive vouchers", tag="festive")
    voucher_services.voucher_codes_load(voucher_list=voucher_list, codes=[f"SHOP-{n:04d}" for n in range(6)])
    vip = CustomListFactory(name="VIP customers", size=2)
    for profile in profiles[:2]:
        CustomListMember.objects.create(custom_list=vip, profile=profile)
    event_definition("Charged", Amount="number", **{"Payment Mode": "string"})
    event_definition("App Launched")
    event_definition("Added To Cart", **{"Product ID": "string"})
    SegmentFactory(
        name="Pune users",
        rules={
            "op": "and",
            "rules": [
                {
                    "type": "user_property",
                    "property": "City",
                    "operator": "equals",
                    "value": "Pune",
                    "value_type": "string",
                }
            ],
        },
    )
    return {"marketer": marketer, "coupon": coupon, "voucher_list": voucher_list, "custom_list": vip}


# Helpers: the builder's regions, waits on HTMX swaps ------------------------------------------


def section(page, title: str):
    return page.get_by_role("region", name=title, exact=True)


@contextmanager
def settled(page):
    """Wait until the HTMX swap the block causes has settled: htmx wires up the new content's
    hx-* attributes only then, so a choice made earlier would trigger nothing."""
    htmx_ready(page)
    page.evaluate(
        """() => { window.swapSettled = false;
        document.body.addEventListener("htmx:afterSettle", () => { window.swapSettled = true }, {once: true}); }"""
    )
    yield
    page.wait_for_function("window.swapSettled === true")


@contextmanager
def swap(page):
    """Wait for the re-render a choice triggers (the section's `?refresh` request) to land.

    Starts from a quiet page: a click that lands while the previous swap is still settling is
    dropped by htmx's request sync (a person clicks again; the test would wait forever)."""
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    with settled(page), page.expect_response(lambda r: "refresh" in r.url and r.request.method == "POST") as info:
        yield
    assert info.value.ok, info.value.status


def save(page, title: str):
    """Save and continue; the section shows its ✓ and the next one opens."""
    region = section(page, title)
    with settled(page):
        region.get_by_role("button", name="Save and continue").click()
    try:
        expect(region.locator(".section-step")).to_have_text("✓")
    except AssertionError as exc:
        errors = region.locator(".errorlist, [role=alert]").all_inner_texts()
        raise AssertionError(f"{title} was not saved; the screen says: {errors}") from exc
    expect(region.get_by_text("Complete", exact=True)).to_be_visible()
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")


def points_types(what):
    """The Points type choices the What section offers, in order."""
    return what.get_by_role("group", name="Points type").locator("label:has(input)")


def publish_button(page):
    return page.get_by_role("button", name="Publish campaign")


def start_campaign(page, *, name: str, live_kind: str | None = None):
    """Sign in, open an empty builder, fill Start here and save it."""
    sign_in(page, "mia", PASSWORD)
    page.get_by_role("link", name="Create campaign").click()
    start = section(page, "Start here")
    for title in ("Who", "What", "When"):
        expect(section(page, title).get_by_role("button", name="Save and continue")).to_have_count(0)
    expect(publish_button(page)).to_be_disabled()
    start.get_by_label("Campaign name", exact=True).fill(name)
    # The live kinds appear only once Live behavior is chosen.
    expect(start.get_by_label("User actions", exact=True)).to_have_count(0)
    if live_kind:
        with swap(page):
            start.get_by_label("Live behavior", exact=True).check()
        # Saved at once, without waiting for this choice's re-render: its late answer must not
        # put the saved section back in its unsaved state (hx-sync on the refresh fields).
        start.get_by_label(live_kind, exact=True).check()
    save(page, "Start here")
    expect(publish_button(page)).to_be_disabled()
    assert re.search(r"/campaigns/\d+/edit/$", page.url), page.url


def publish(page, *, name: str, status: str) -> Campaign:
    expect(section(page, "When").locator(".section-step")).to_have_text("✓")
    expect(publish_button(page)).to_be_enabled()
    publish_button(page).click()
    expect(page.locator("#campaign-status")).to_have_text(status)
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    history = page.locator("#campaign-history")
    for entry in ("Published", "Saved section: when", "Created: start"):
        expect(history.get_by_role("cell", name=entry, exact=True)).to_be_visible()
    return Campaign.objects.get(name=name)


def local_input(moment: datetime.datetime) -> str:
    return moment.astimezone(KOLKATA).strftime("%Y-%m-%dT%H:%M")


# The four journeys ---------------------------------------------------------------------------


def test_past_behaviour_segment_flat_points_sent_now(page, screenshot, catalogue):
    start_campaign(page, name="Welcome points")

    who = section(page, "Who")
    expect(who.get_by_label("Saved segment", exact=True)).to_have_count(0)
    with swap(page):
        who.get_by_label("A saved segment", exact=True).check()
    with swap(page):
        who.get_by_label("Saved segment", exact=True).select_option(label="Pune users")
    expect(who.get_by_text(re.compile(r"Estimated audience: ≈ \d+ profiles"))).to_be_visible()
    save(page, "Who")

    what = section(page, "What")
    with swap(page):
        what.get_by_label("Wallet points", exact=True).check()
    what.get_by_label("Wallet", exact=True).select_option(label="Supercoins (Supercoins)")
    # Percentage / Proportional are for live single-trigger campaigns; budgets for live ones.
    expect(points_types(what)).to_have_text(["Flat", "Random"])
    expect(what.get_by_label("Percentage", exact=True)).to_have_count(0)
    expect(what.get_by_label("Proportional", exact=True)).to_have_count(0)
    expect(what.get_by_label("Campaign budget (points, optional)")).to_have_count(0)
    with swap(page):
        what.get_by_label("Flat", exact=True).check()
    what.get_by_label("Points", exact=True).fill("100")
    save(page, "What")
    expect(publish_button(page)).to_be_disabled()

    when = section(page, "When")
    expect(when.get_by_label("Send at", exact=True)).to_have_count(0)
    with swap(page):
        when.get_by_label(f"Send now {TZ_LABEL}", exact=True).check()
    expect(when.get_by_text(f"Sends now, {TZ_LABEL}.")).to_be_visible()
    save(page, "When")

    summary = section(page, "Publish")
    expect(summary.get_by_text("Pune users")).to_be_visible()
    campaign = publish(page, name="Welcome points", status="Running")

    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.qualification == Campaign.Qualification.PAST_BEHAVIOR
    assert campaign.segment.name == "Pune users"
    assert (campaign.reward_type, campaign.points_type, campaign.flat_points) == ("points", "flat", 100)
    assert campaign.delivery == Campaign.Delivery.NOW
    assert campaign.created_by == catalogue["marketer"]
    assert campaign.runs.filter(status=CampaignRun.Status.PENDING, scheduled_for__lte=timezone.now()).count() == 1
    screenshot()


def test_live_action_percentage_points_with_budget(page, screenshot, catalogue):
    start_campaign(page, name="Cashback 5%", live_kind="User actions")

    who = section(page, "Who")
    expect(who.get_by_label("Saved segment", exact=True)).to_have_count(0)
    with swap(page):
        who.get_by_label("Trigger event 1", exact=True).select_option("Charged")
    # A second trigger event: Percentage is then not offered (it needs a single trigger).
    with swap(page):
        who.get_by_role("button", name="+ Add trigger event").click()
    with swap(page):
        who.get_by_label("Trigger event 2", exact=True).select_option("App Launched")
    save(page, "Who")
    what = section(page, "What")
    with swap(page):
        what.get_by_label("Wallet points", exact=True).check()
    expect(points_types(what)).to_have_text(["Flat", "Random"])

    # Back to Who through its Edit link; one trigger event makes Percentage appear.
    with settled(page):
        section(page, "Who").get_by_role("link", name="Edit").click()
    who = section(page, "Who")
    expect(who.get_by_label("Trigger event 1", exact=True)).to_have_value("Charged")
    with swap(page):
        who.get_by_role("button", name="Remove last trigger event").click()
    expect(who.get_by_label("Trigger event 2", exact=True)).to_have_count(0)
    # A property filter on the trigger, built from the event's catalogue without typing JSON.
    with swap(page):
        who.get_by_role("button", name="+ Property filter").click()
    prop = who.get_by_label("Trigger event 1 filter 1 property", exact=True)
    expect(prop.locator("option")).to_have_text(["Choose a property", "Amount", "Payment Mode"])
    with swap(page):
        prop.select_option("Amount")
    operator = who.get_by_label("Trigger event 1 filter 1 operator", exact=True)
    expect(operator.locator("option", has_text="contains")).to_have_count(0)  # not for a number
    with swap(page):
        operator.select_option(label="greater than")
    who.get_by_label("Trigger event 1 filter 1 value", exact=True).fill("499")
    # A second filter row, then removed again.
    with swap(page):
        who.get_by_role("button", name="+ Property filter").click()
    with swap(page):
        who.get_by_role("button", name="Remove filter 2 of trigger event 1").click()
    expect(who.get_by_label("Trigger event 1 filter 2 property", exact=True)).to_have_count(0)
    expect(who.get_by_label("Trigger event 1 filter 1 value", exact=True)).to_have_value("499")
    # The past-behaviour filter is the visual rule builder: users who ever launched the app.
    past = who.locator("#who-past-filter")
    with settled(page):
        past.get_by_role("button", name="+ Add rule").click()
    with settled(page):
        past.get_by_label("Event", exact=True).select_option("App Launched")
    save(page, "Who")

    what = section(page, "What")
    with swap(page):
        what.get_by_label("Wallet points", exact=True).check()
    what.get_by_label("Wallet", exact=True).select_option(label="Supercoins (Supercoins)")
    expect(points_types(what)).to_have_text(["Flat", "Random", "Percentage", "Proportional"])
    with swap(page):
        what.get_by_label("Flat", exact=True).check()
    # Live: a campaign budget for every points type, a per-user budget except for Flat.
    expect(what.get_by_label("Campaign budget (points, optional)")).to_be_visible()
    expect(what.get_by_label("Per-user budget (points, optional)")).to_have_count(0)
    expect(what.get_by_label("Max times per user in total", exact=True)).to_be_visible()
    with swap(page):
        what.get_by_label("Percentage", exact=True).check()
    expect(what.get_by_label("Points", exact=True)).to_have_count(0)
    expect(what.get_by_label("Per-user budget (points, optional)")).to_be_visible()
    what.get_by_label("Event property", exact=True).select_option("Amount")
    what.get_by_label("Percentage (%)").fill("5")
    what.get_by_label("Max points per reward (optional)").fill("200")
    what.get_by_label("Campaign budget (points, optional)").fill("50000")
    what.get_by_label("Per-user budget (points, optional)").fill("1000")
    what.get_by_label("Per day", exact=True).fill("1")
    save(page, "What")

    when = section(page, "When")
    expect(when.get_by_label("Start at", exact=True)).to_have_count(0)
    with swap(page):
        when.get_by_label("Now", exact=True).check()
    when.get_by_label("Never", exact=True).check()
    save(page, "When")

    campaign = publish(page, name="Cashback 5%", status="Running")
    assert campaign.qualification == Campaign.Qualification.LIVE_ACTION
    assert campaign.triggers == [
        {
            "event": "Charged",
            "filters": [{"property": "Amount", "operator": "greater_than", "value_type": "number", "value": 499}],
        }
    ]
    [rule] = campaign.past_filter["rules"]
    assert (rule["type"], rule["event"], rule["window"], rule["filters"]) == (
        "did",
        "App Launched",
        {"type": "ever"},
        [],
    )
    assert campaign.points_type == Campaign.PointsType.PERCENTAGE
    assert (campaign.points_property, campaign.percentage, campaign.max_points_per_reward) == ("Amount", 5, 200)
    assert (campaign.budget_campaign, campaign.budget_per_user, campaign.max_per_user_day) == (50000, 1000, 1)
    assert campaign.live_start == Campaign.LiveStart.NOW and campaign.live_end == Campaign.LiveEnd.NEVER
    screenshot()


def test_live_inaction_bulk_coupon(page, screenshot, catalogue):
    start_campaign(page, name="Come back for your cart", live_kind="User inaction within a time frame")

    event_definition("Charged", **{"Product ID": "string"})
    who = section(page, "Who")
    constant = who.get_by_label("Constant event property (optional)")
    expect(constant.locator("option")).to_have_text(["Choose events A and B first"])
    with swap(page):
        who.get_by_label("Event A (the user does)").select_option("Added To Cart")
    with swap(page):
        who.get_by_label("Event B (the user does not do)").select_option("Charged")
    # Only what both events carry in the catalogue: a typo can no longer reward nobody.
    expect(constant.locator("option")).to_have_text(["None", "Product ID"])
    who.get_by_label("Within", exact=True).fill("6")
    who.get_by_label("Unit", exact=True).select_option(label="Hours")
    constant.select_option("Product ID")
    save(page, "Who")

    what = section(page, "What")
    with swap(page):
        what.get_by_label("Coupons", exact=True).check()
    expect(what.get_by_label("Wallet", exact=True)).to_have_count(0)
    expect(what.get_by_label("Coupon", exact=True)).to_have_count(0)
    with swap(page):
        what.get_by_label("Bulk codes", exact=True).check()
    coupon = what.get_by_label("Coupon", exact=True)
    expect(coupon.locator("option", has_text="DIWALI")).to_have_count(1)
    with swap(page):
        coupon.select_option(label="DIWALI")
    expect(what.get_by_label("Max per user (optional)")).to_be_visible()
    what.get_by_label("Max per user (optional)").fill("1")
    what.get_by_label("Immediate", exact=True).check()
    save(page, "What")

    when = section(page, "When")
    with swap(page):
        when.get_by_role("group", name="Start").get_by_label("Now", exact=True).check()
    # Start and End both offer "On a date/time": each field is a named group of radios.
    end = when.get_by_role("group", name="End")
    expect(when.get_by_label("End at", exact=True)).to_have_count(0)
    with swap(page):
        end.get_by_label("On a date/time", exact=True).check()
    expect(when.get_by_label("End at", exact=True)).to_be_visible()
    expect(when.get_by_label("Start at", exact=True)).to_have_count(0)
    with swap(page):
        when.get_by_role("group", name="End").get_by_label("Never", exact=True).check()
    expect(when.get_by_label("End at", exact=True)).to_have_count(0)
    save(page, "When")

    campaign = publish(page, name="Come back for your cart", status="Running")
    assert campaign.qualification == Campaign.Qualification.LIVE_INACTION
    assert (campaign.inaction_event_a, campaign.inaction_event_b) == ("Added To Cart", "Charged")
    assert (campaign.inaction_window_value, campaign.inaction_window_unit) == (6, "hours")
    assert campaign.constant_property == "Product ID"
    assert (campaign.reward_type, campaign.coupon_kind, campaign.coupon_id) == (
        "coupon",
        "bulk",
        catalogue["coupon"].pk,
    )
    assert campaign.max_codes_per_user == 1
    screenshot()


def test_custom_list_partner_voucher_scheduled_for_later(page, screenshot, catalogue):
    start_campaign(page, name="Festive vouchers for VIPs")

    who = section(page, "Who")
    with swap(page):
        who.get_by_label("A custom list", exact=True).check()
    expect(who.get_by_label("Saved segment", exact=True)).to_have_count(0)
    with swap(page):
        who.get_by_label("Custom list", exact=True).select_option(label="VIP customers")
    expect(who.get_by_text("Estimated audience: ≈ 2 profiles")).to_be_visible()
    save(page, "Who")

    what = section(page, "What")
    with swap(page):
        what.get_by_label("Partner vouchers", exact=True).check()
    expect(what.get_by_label("Code snippet", exact=True)).to_have_count(0)
    with swap(page):
        what.get_by_label("Code provider", exact=True).select_option(label="ShopCo")
    # Not live: no per-user / per-campaign maximums.
    expect(what.get_by_label("Max per user (optional)")).to_have_count(0)
    with swap(page):
        what.get_by_label("Code snippet", exact=True).select_option(label="Festive vouchers (festive)")
    save(page, "What")

    when = section(page, "When")
    with swap(page):
        when.get_by_label("Schedule for later", exact=True).check()
    send_at = (
        (timezone.now() + datetime.timedelta(days=2))
        .astimezone(KOLKATA)
        .replace(hour=10, minute=30, second=0, microsecond=0)
    )
    when.get_by_label("Send at", exact=True).fill(local_input(send_at))
    save(page, "When")

    campaign = publish(page, name="Festive vouchers for VIPs", status="Scheduled")
    assert campaign.qualification == Campaign.Qualification.CUSTOM_LIST
    assert campaign.custom_list == catalogue["custom_list"]
    assert (campaign.reward_type, campaign.partner.name, campaign.voucher_list) == (
        "voucher",
        "ShopCo",
        catalogue["voucher_list"],
    )
    assert campaign.delivery == Campaign.Delivery.LATER
    assert campaign.scheduled_at == send_at
    assert list(campaign.runs.values_list("scheduled_for", "status")) == [(send_at, CampaignRun.Status.PENDING)]
    screenshot()


# The campaign list ------------------------------------------------------------------------------


def test_an_invalid_section_save_answers_422_and_the_section_shows_its_errors(page, catalogue):
    """An invalid save answers 422 (the HTMX convention); htmx swaps it in like a 200 (base.html's
    htmx-config), so the section shows its error and what was typed, and saves once corrected."""
    sign_in(page, "mia", PASSWORD)
    page.get_by_role("link", name="Create campaign").click()
    start = section(page, "Start here")
    start.get_by_label("Description", exact=True).fill("Typed before the error")
    with settled(page), page.expect_response(lambda r: r.request.method == "POST") as info:
        start.get_by_role("button", name="Save and continue").click()
    assert info.value.status == 422
    expect(start.get_by_text("Enter the campaign name.").first).to_be_visible()
    expect(start.get_by_label("Description", exact=True)).to_have_value("Typed before the error")
    assert Campaign.objects.count() == 0
    start.get_by_label("Campaign name", exact=True).fill("Fixed")
    save(page, "Start here")
    assert Campaign.objects.get().description == "Typed before the error"


def test_campaign_list_filters_by_status_through_htmx_and_the_url(page, screenshot, catalogue):
    user = catalogue["marketer"]
    campaign_past(user=user, name="Diwali bonus", status=Campaign.Status.RUNNING)
    campaign_live(user=user, name="Cashback", status=Campaign.Status.PAUSED)
    campaign_past(user=user, name="Draft idea", status=Campaign.Status.DRAFT, custom_list=catalogue["custom_list"])
    sign_in(page, "mia", PASSWORD)
    table = page.locator("#campaign-table")
    for name in ("Diwali bonus", "Cashback", "Draft idea"):
        expect(table.get_by_role("link", name=name)).to_be_visible()
    page.evaluate("window.notReloaded = true")

    with page.expect_response(lambda r: "status=paused" in r.url):
        page.get_by_label("Status", exact=True).select_option(label="Paused")
    expect(table.get_by_role("link", name="Cashback")).to_be_visible()
    expect(table.get_by_role("link", name="Diwali bonus")).to_have_count(0)
    expect(table.get_by_text("1 campaign", exact=True)).to_be_visible()
    assert "status=paused" in page.url
    assert page.evaluate("window.notReloaded") is True  # swapped in place, no full page load

    with page.expect_response(lambda r: "status=draft" in r.url):
        page.get_by_label("Status", exact=True).select_option(label="Draft")
    expect(table.get_by_role("link", name="Draft idea")).to_be_visible()
    expect(table.get_by_role("link", name="Cashback")).to_have_count(0)
    assert "status=draft" in page.url
    assert page.evaluate("window.notReloaded") is True

    # The URL is shareable: opening it fresh shows the same filtered table.
    page.goto(page.url)
    expect(page.get_by_label("Status", exact=True)).to_have_value("draft")
    expect(table.get_by_role("link", name="Draft idea")).to_be_visible()
    expect(table.get_by_role("link", name="Diwali bonus")).to_have_count(0)
    screenshot()
