"""Issue #16 in a browser: dates typed and picked as the app shows them, a blank rule that is not
scolded, and a partner's cancelled first upload that leaves no list behind."""

import datetime
import re
from urllib.parse import unquote_plus

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from promotions.models import Campaign
from tests.e2e.conftest import sign_in
from tests.e2e.test_builder import PASSWORD
from tests.factories import UserFactory
from tests.promotions.factories import CampaignFactory
from tests.promotions.helpers import KOLKATA
from tests.vouchers.factories import PartnerUserFactory
from vouchers.models import VoucherList, VoucherUpload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mia():
    return UserFactory(username="mia", groups=["Marketer"], password=PASSWORD, first_name="Mia", last_name="Rao")


def test_a_date_is_typed_or_picked_in_the_apps_format_and_filters_whole_local_days(page, mia, screenshot):
    CampaignFactory(name="Early riser", starts_at=datetime.datetime(2026, 1, 10, 0, 30, tzinfo=KOLKATA))
    CampaignFactory(name="Day before", starts_at=datetime.datetime(2026, 1, 9, 23, 50, tzinfo=KOLKATA))
    sign_in(page, "mia", PASSWORD)
    page.goto("/campaigns/")
    start = page.get_by_label("Start from")
    expect(start).to_have_attribute("type", "text")
    expect(start).to_have_attribute("placeholder", "e.g. 4 Dec 2026")

    # The calendar button opens the browser's picker; what it picks is written in the app's format.
    field = page.locator(".date-field", has=start)
    expect(field.get_by_role("button", name="Calendar")).to_be_visible()
    with page.expect_response(lambda r: "/campaigns/" in r.url and "start_after=10 Jan 2026" in unquote_plus(r.url)):
        field.locator(".date-field-picker").evaluate(
            "p => { p.value = '2026-01-10'; p.dispatchEvent(new Event('change', {bubbles: true})); }"
        )
    expect(start).to_have_value("10 Jan 2026")
    table = page.locator("#campaign-table")
    expect(table).to_contain_text("Early riser")
    expect(table).not_to_contain_text("Day before")

    # Typed by hand, the same way the pages show dates.
    until = page.get_by_label("Start until")
    until.fill("9 Jan 2026")
    with page.expect_response(lambda r: "start_before=9 Jan 2026" in unquote_plus(r.url)):
        until.press("Enter")
    expect(page.locator("#campaign-table")).not_to_contain_text("Early riser")
    screenshot()


def test_the_rule_builder_does_not_scold_a_rule_nobody_has_filled_in_yet(page, mia):
    sign_in(page, "mia", PASSWORD)
    with page.expect_response(lambda r: "/audience/rules/estimate/" in r.url):
        page.goto("/audience/segments/new/")
    expect(page.locator("#estimate-hint")).to_be_visible()
    expect(page.locator("#rule-builder")).not_to_contain_text("choose an event")
    page.get_by_label("Name", exact=True).fill("Nobody yet")
    page.get_by_role("button", name="Save segment").click()
    expect(page.locator("#rule-builder")).to_contain_text("Rule 1: choose an event.")


def test_a_cancelled_first_upload_leaves_no_list_and_the_tag_can_be_used_again(page, screenshot):
    PartnerUserFactory(user__username="pat", user__password=PASSWORD, partner__name="ShopCo")
    sign_in(page, "pat", PASSWORD)
    page.get_by_role("link", name="New voucher list").click()
    expiry = timezone.now().astimezone(KOLKATA).date() + datetime.timedelta(days=60)
    page.get_by_label("List tag").fill("qa-cancel")
    page.get_by_label("Name", exact=True).fill("QA cancel")
    page.get_by_label("Expiry date").fill(f"{expiry.day} {expiry:%b %Y}")
    page.get_by_label("Codes file").set_input_files(
        files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": b"code\nQA-1\nQA-2\n"}]
    )
    page.get_by_role("button", name="Create and validate codes").click()
    expect(page.locator("#upload-status-badge")).to_have_text("Awaiting confirmation")
    expect(page.locator("#pending-list-note")).to_be_visible()
    assert VoucherList.objects.get().status == VoucherList.Status.PENDING

    page.get_by_role("button", name="Cancel upload").click()
    expect(page.get_by_role("heading", name="The list “qa-cancel” was not created")).to_be_visible()
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()
    page.get_by_role("link", name="All lists").click()
    expect(page.get_by_text("No voucher lists yet")).to_be_visible()
    page.go_back()

    page.get_by_role("link", name=re.compile("Create the list “qa-cancel” again")).click()
    expect(page.get_by_label("List tag")).to_have_value("qa-cancel")
    page.get_by_label("Expiry date").fill(f"{expiry.day} {expiry:%b %Y}")
    page.get_by_label("Codes file").set_input_files(
        files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": b"code\nQA-1\nQA-2\n"}]
    )
    page.get_by_role("button", name="Create and validate codes").click()
    expect(page.locator("#upload-status-badge")).to_have_text("Awaiting confirmation")
    assert VoucherList.objects.get().tag == "qa-cancel"
    assert not Campaign.objects.exists()
    screenshot()


@pytest.mark.parametrize("url,label", [("/campaigns/", "Start from"), ("/audience/events/", "From")])
def test_with_debug_on_a_bad_filter_date_shows_its_error_in_the_table_and_keeps_the_page(
    page, mia, settings, url, label
):
    """`make run` has DEBUG on, and django-htmx's debug script then writes any 400/404/500 answer to
    an HTMX request over the whole document: a filter's refusal is a 422 the page swaps in place."""
    settings.DEBUG = True  # the page then loads django-htmx's debug script, as under `make run`
    sign_in(page, "mia", PASSWORD)
    page.goto(url)
    expect(page.locator("script[data-debug]")).to_have_count(1)
    field = page.get_by_label(label, exact=True)
    field.fill("31/12/2026")
    with page.expect_response(lambda r: "31/12/2026" in unquote_plus(r.url)) as answer:
        field.press("Enter")
    assert answer.value.status == 422
    expect(page.get_by_text("Enter a date like").first).to_be_visible()
    expect(page.locator("header.topbar")).to_be_visible()  # the page is still the page
    expect(page.get_by_label(label, exact=True)).to_have_value("31/12/2026")


def test_a_page_opened_with_the_rule_builder_in_it_runs_the_builders_script_without_an_error(page, mia):
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "mia", PASSWORD)
    page.goto("/audience/segments/new/")
    expect(page.locator(".rule-builder").first).to_be_visible()
    page.wait_for_load_state("load")
    assert errors == []  # was "htmx is not defined": the script ran before the deferred htmx
    assert page.evaluate("typeof window.ruleBuilder === 'object'")


def test_switching_the_coupon_kind_re_renders_the_form_without_sending_the_csrf_token_in_the_address(page, mia):
    sign_in(page, "mia", PASSWORD)
    page.goto("/coupons/new/")
    page.get_by_label("Name").fill("Festive")
    with page.expect_request(lambda r: "switch=1" in r.url) as switched:
        page.locator(".choice-card", has_text="series").click()
    assert "csrfmiddlewaretoken" not in switched.value.url  # it used to land in the server's access log
    assert "name=Festive" in switched.value.url
    expect(page.get_by_label("Name")).to_have_value("Festive")
