"""Whole journeys as each kind of user meets the product (issue 9), in a real browser.

Background work (custom list processing, campaign distribution, voucher uploads) is driven
in-process by the test, calling the same services the Celery tasks call, while the page polls
through HTMX exactly as it does with a worker: the live server's broker is in-memory, so no
worker would receive the tasks. The real worker is exercised in test_embedded_default.py.
Screens these journeys end on are copied to docs/images/ when PROMO_DOC_SCREENSHOTS=1.
"""

import base64
import datetime
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import ApiKey
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun, Grant
from segments import selectors
from segments import services as segment_services
from segments.models import CustomListUpload, Segment
from tests.e2e.conftest import htmx_ready, sign_in
from tests.e2e.test_builder import PASSWORD, TZ_LABEL, publish, publish_button, save, section, swap
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_live
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import PartnerUserFactory
from tests.wallets.factories import WalletFactory
from vouchers import services as voucher_services
from vouchers.models import VoucherCode, VoucherList, VoucherUpload
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db(transaction=True)

DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@pytest.fixture
def doc_screenshot(screenshot):
    """Take the journey's screenshot; also keep it for the README when asked to."""

    def take(name: str):
        path = screenshot(name)
        if os.environ.get("PROMO_DOC_SCREENSHOTS") == "1":
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, DOC_IMAGES / f"{name}.png")
        return path

    return take


def not_reloaded(page):
    page.evaluate("window.notReloaded = true")
    return lambda: page.evaluate("window.notReloaded === true")


# (a) Marketer: custom list → send-now campaign → Completed; pause and resume a live one --------


def test_marketer_uploads_a_list_publishes_a_send_now_campaign_and_watches_it_complete(
    page, screenshot, doc_screenshot
):
    marketer = UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    for n in range(1, 6):
        ProfileFactory(identity=f"u{n}")
    WalletFactory(name="Supercoins", points_name="Supercoins")
    sign_in(page, "mia", PASSWORD)

    # Upload the list: three known profiles, one unknown identity, one duplicate.
    page.get_by_role("link", name="Audience", exact=True).click()
    page.goto("/audience/lists/")
    page.get_by_label("Name", exact=True).fill("VIP customers")
    page.get_by_label("CSV file (≤ 50 MB)").set_input_files(
        files=[
            {"name": "vip.csv", "mimeType": "text/csv", "buffer": b"Type,Identity\ni,u1\ni,u2\ni,u3\ni,ghost\ni,u1\n"}
        ]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("heading", name="VIP customers", level=1)).to_be_visible()
    history = page.locator("#upload-history")
    expect(history.locator(".progress")).to_be_visible()  # In progress, polling
    still_here = not_reloaded(page)
    segment_services.custom_list_process(upload_id=CustomListUpload.objects.get().pk)
    expect(history.get_by_text("Completed")).to_be_visible(timeout=15_000)
    expect(history.locator("td.num")).to_have_text(["3", "1", "1", "0"])  # matched, unknown, duplicate, invalid
    expect(history.get_by_role("link", name="Download")).to_be_visible()
    assert still_here()
    screenshot("journey_custom_list_uploaded")

    # Build and publish a send-now campaign to the list.
    page.get_by_role("link", name="Campaigns", exact=True).click()
    page.get_by_role("link", name="Create campaign").click()
    section(page, "Start here").get_by_label("Campaign name", exact=True).fill("VIP welcome")
    save(page, "Start here")
    who = section(page, "Who")
    with swap(page):
        who.get_by_label("A custom list", exact=True).check()
    with swap(page):
        who.get_by_label("Custom list", exact=True).select_option(label="VIP customers")
    expect(who.get_by_text("Estimated audience: ≈ 3 profiles")).to_be_visible()
    save(page, "Who")
    what = section(page, "What")
    with swap(page):
        what.get_by_label("Wallet points", exact=True).check()
    what.get_by_label("Wallet", exact=True).select_option(label="Supercoins (Supercoins)")
    with swap(page):
        what.get_by_label("Flat", exact=True).check()
    what.get_by_label("Points", exact=True).fill("50")
    save(page, "What")
    when = section(page, "When")
    with swap(page):
        when.get_by_label(f"Send now {TZ_LABEL}", exact=True).check()
    save(page, "When")
    expect(publish_button(page)).to_be_enabled()
    doc_screenshot("campaign_builder")
    campaign = publish(page, name="VIP welcome", status="Running")

    # The distribution runs (as the beat sweep and the worker would) while the page polls.
    progress = page.locator("#run-progress")
    expect(progress.get_by_text("Run scheduled for")).to_be_visible()
    [run_id] = sweeps.runs_dispatch_due()
    while runs.run_distribute_chunk(run_id=run_id, chunk_size=1) == runs.MORE:
        time.sleep(0.3)  # one profile per chunk, so the bar has steps to show
    expect(progress.get_by_role("cell", name="Completed")).to_be_visible(timeout=15_000)
    expect(page.locator("#campaign-status")).to_have_text("Completed")
    expect(progress.get_by_text("No distribution under way.")).to_be_visible()
    assert CampaignRun.objects.get(pk=run_id).processed == 3
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 3
    credited = Transaction.objects.filter(lot__campaign=campaign).values_list("profile__identity", flat=True)
    assert sorted(credited) == ["u1", "u2", "u3"]  # each list member once, the unknown never
    # When the run ends the page refreshes itself once (HX-Refresh): the final stats, no user reload.
    expect(page.locator("#stat-profiles-rewarded")).to_have_text("3")
    expect(page.locator("#stat-points")).to_have_text("150")
    doc_screenshot("campaign_stats")

    # Pause a live campaign from the list, resume it from its detail page.
    live = campaign_live(user=marketer, name="Cashback", status=Campaign.Status.RUNNING)
    page.goto("/campaigns/")
    row = page.locator("#campaign-table tr", has=page.get_by_role("link", name="Cashback"))
    row.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("“Cashback” is Paused.")).to_be_visible()
    live.refresh_from_db()
    assert live.status == Campaign.Status.PAUSED
    doc_screenshot("campaign_list")
    page.goto(live.get_absolute_url())
    expect(page.locator("#campaign-status")).to_have_text("Paused")
    page.locator(".page-header").get_by_role("button", name="Resume").click()
    expect(page.locator("#campaign-status")).to_have_text("Running")
    live.refresh_from_db()
    assert live.status == Campaign.Status.RUNNING
    history = page.locator("#campaign-history")
    for entry in ("Paused", "Resumed"):
        expect(history.get_by_role("cell", name=re.compile(entry))).to_have_count(1)
    screenshot()


# (b) Partner: a voucher list with some bad rows → report → confirm → codes --------------------


def test_partner_uploads_a_voucher_list_with_bad_rows_reads_the_report_and_confirms(page, screenshot):
    link = PartnerUserFactory(user__username="pat", user__password=PASSWORD, partner__name="ShopCo")
    PartnerUserFactory(partner__name="OtherCo")  # another partner's data must never show
    sign_in(page, "pat", PASSWORD)
    expect(page.get_by_role("heading", name="ShopCo")).to_be_visible()

    page.get_by_role("link", name="New voucher list").click()
    page.get_by_label("List tag").fill("Summer-Sale")
    page.get_by_label("Name", exact=True).fill("Summer sale")
    page.get_by_label("Expiry date").fill((timezone.localdate() + datetime.timedelta(days=60)).isoformat())
    csv = b"code\nSUM-0001\nSUM-0002\nbad code\nSUM-0001\nSUM-0003\n\n" + b"X" * 300 + b"\n"
    page.get_by_label("Codes file").set_input_files(
        files=[{"name": "summer.csv", "mimeType": "text/csv", "buffer": csv}]
    )
    page.get_by_role("button", name="Create and validate codes").click()

    # The report: nothing stored yet; valid codes, duplicates and bad rows counted.
    expect(page.get_by_role("heading", name="Upload report")).to_be_visible()
    expect(page.locator("#upload-status-badge")).to_have_text("Awaiting confirmation")
    report = page.locator("#upload-report")
    expect(report.locator(".stat .value")).to_have_text(["6", "3", "1", "2"])  # read, valid, dups, bad
    expect(page.get_by_role("link", name=re.compile(r"Download error file \(3 rows"))).to_be_visible()
    assert VoucherCode.objects.count() == 0
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download error file")).click()
    errors = Path(download.value.path()).read_text()
    assert "bad code" in errors and "SUM-0001" in errors

    page.get_by_role("button", name="Confirm and store 3 codes").click()
    expect(page.get_by_text("Processing started.")).to_be_visible()
    still_here = not_reloaded(page)
    upload = VoucherUpload.objects.get()
    voucher_services.voucher_upload_process(upload=upload)  # what the worker's task does
    expect(page.locator("#upload-status-badge")).to_have_text("Completed", timeout=15_000)
    expect(page.get_by_text("3 codes added to the list")).to_be_visible()
    assert still_here()

    page.get_by_role("link", name="Back to the list").click()
    expect(page.get_by_role("heading", name=re.compile("Summer sale"))).to_be_visible()
    stats = page.locator("#list-stats .stat .value")
    expect(stats.nth(0)).to_have_text("3")  # codes uploaded
    expect(stats.nth(2)).to_have_text("3")  # left
    page.get_by_role("link", name="All lists").click()
    lists = page.locator("#partner-lists")
    expect(lists.get_by_role("link", name="summer-sale")).to_be_visible()  # tag stored lowercase
    expect(lists.locator("tbody tr")).to_have_count(1)
    assert set(VoucherCode.objects.values_list("code", flat=True)) == {"SUM-0001", "SUM-0002", "SUM-0003"}
    assert VoucherList.objects.get().partner == link.partner
    screenshot()


# (c) Admin: a wallet and an API key in Django admin (the secret shown once) -------------------


def test_admin_creates_a_wallet_and_an_api_key_whose_secret_is_shown_once(page, screenshot):
    UserFactory(username="ada", is_staff=True, is_superuser=True, password=PASSWORD)
    ProfileFactory(identity="u1")
    sign_in(page, "ada", PASSWORD)
    page.get_by_role("link", name="Admin", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("Site administration"))).to_be_visible()

    page.goto("/admin/wallets/wallet/add/")
    page.get_by_label("Name:", exact=True).fill("Gold points")
    page.get_by_label("Points name:").fill("Gold")
    page.get_by_label("Points expiry:").select_option(label="After a period")
    page.get_by_label("Expiry N:").fill("90")
    page.get_by_label("Expiry unit:").select_option("days")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    wallet = Wallet.objects.get(name="Gold points")
    assert (wallet.points_name, wallet.expiry_kind, wallet.expiry_value, wallet.expiry_unit) == (
        "Gold",
        "after",
        90,
        "days",
    )

    page.goto("/admin/accounts/apikey/add/")
    page.get_by_label("Name:").fill("Mobile app")
    page.get_by_label("wallets:read: read wallets and transactions").check()  # nothing is ticked for the admin
    page.get_by_role("button", name="Save", exact=True).click()
    message = page.locator(".messagelist").inner_text()
    found = re.search(r"Key id: (pk_[0-9a-f]+) — secret: (\S+) — copy the secret now", message)
    assert found, message
    key_id, secret = found.groups()
    key = ApiKey.objects.get(key_id=key_id)
    assert secret not in key.secret_hash and len(key.secret_hash) == 64  # stored hashed
    screenshot()

    # The key works against the API; its page never shows the secret again.
    token = base64.b64encode(f"{key_id}:{secret}".encode()).decode()
    response = page.request.get("/api/1/promo/wallets?identity=u1", headers={"Authorization": f"Basic {token}"})
    assert response.status == 200, response.text()
    # u1 holds no points yet: the new wallet is listed with zeros (an app shows "0 Gold").
    records = response.json()["records"]
    assert [(r["walletName"], r["activePoints"], r["promisedPoints"]) for r in records] == [("Gold points", 0, 0)]
    page.goto(f"/admin/accounts/apikey/{key.pk}/change/")
    expect(page.get_by_text(key_id).first).to_be_visible()
    assert secret not in page.content()


# (d) The segment rule builder (#3): two rules, estimate, save, test a profile -----------------


@contextmanager
def builder_swap(page):
    """Wait for the rule builder's re-render (a structural change) and its follow-up estimate."""
    htmx_ready(page)
    with page.expect_response(lambda r: r.url.endswith("/audience/rules/builder/")):
        yield
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def test_marketer_builds_a_two_rule_segment_sees_the_estimate_saves_and_tests_a_profile(
    page, screenshot, doc_screenshot
):
    UserFactory(username="mia", groups=["Marketer"], password=PASSWORD)
    now = int(time.time())
    segment_services.upload_records(
        records=[
            {"type": "profile", "identity": "u1", "profileData": {"City": "Pune"}},
            {"type": "profile", "identity": "u2", "profileData": {"City": "Pune"}},
            {"type": "profile", "identity": "u3", "profileData": {"City": "Mumbai"}},
            {"type": "event", "identity": "u1", "ts": now - 86400, "evtName": "Charged", "evtData": {"Amount": 250}},
            {"type": "event", "identity": "u3", "ts": now - 86400, "evtName": "Charged", "evtData": {"Amount": 90}},
        ]
    )
    sign_in(page, "mia", PASSWORD)
    page.goto("/audience/segments/new/")
    page.get_by_label("Name", exact=True).fill("Pune buyers")
    builder = page.locator("#rule-builder")

    # Rule 1 (the empty row a new segment starts with): user property City equals Pune.
    expect(builder.locator("li.rb-row")).to_have_count(1)
    rule1 = builder.locator("li.rb-row").nth(0)
    with builder_swap(page):
        rule1.get_by_label("Rule 1 type").select_option(label="User property")
    rule1 = builder.locator("li.rb-row").nth(0)
    with builder_swap(page):
        rule1.get_by_label("Property", exact=True).select_option("City")
    rule1 = builder.locator("li.rb-row").nth(0)
    expect(rule1.get_by_label("Operator", exact=True)).to_have_value("equals")
    with page.expect_response(lambda r: "/audience/rules/estimate/" in r.url):
        rule1.get_by_label("Value", exact=True).fill("Pune")
    estimate = page.locator("#rule-estimate")
    expect(estimate).to_contain_text("Estimated audience: ≈ 2 profiles")

    # Rule 2: did Charged in the last 30 days; the estimate narrows as the rule is built.
    with builder_swap(page):
        builder.get_by_role("button", name="+ Add rule").click()
    rule2 = builder.locator("li.rb-row").nth(1)
    expect(rule2.get_by_label("Rule 2 type")).to_have_value("did")
    with builder_swap(page):
        rule2.get_by_label("Event", exact=True).select_option("Charged")
    rule2 = builder.locator("li.rb-row").nth(1)
    with builder_swap(page):
        rule2.get_by_label("Time window").select_option(label="in the last")
    rule2 = builder.locator("li.rb-row").nth(1)
    rule2.get_by_label("How many").fill("30")
    with builder_swap(page):
        rule2.get_by_label("Unit", exact=True).select_option("days")
    expect(estimate).to_contain_text(re.compile(r"Estimated audience: ≈ 1 profile(?!s)"))
    estimate.get_by_role("button", name="Exact count").click()
    expect(page.locator("#rule-estimate")).to_contain_text("exact: 1")

    # Test a profile, rule by rule.
    page.get_by_label("Test a profile").fill("u2")
    page.get_by_role("button", name="Test / show matches").click()
    explain = page.locator("#rule-explain")
    expect(explain.get_by_text("does not match")).to_be_visible()
    expect(explain.locator("li", has_text="✗")).to_have_count(1)
    page.get_by_label("Test a profile").fill("u1")
    page.get_by_role("button", name="Test / show matches").click()
    expect(explain.get_by_text("matches", exact=True)).to_be_visible()
    expect(explain.get_by_role("link", name="u1")).to_be_visible()
    doc_screenshot("segment_builder")

    page.get_by_role("button", name="Save segment").click()
    segment = Segment.objects.get(name="Pune buyers")
    expect(page).not_to_have_url(re.compile(r"/segments/new/$"))
    assert selectors.audience_count(rules=segment.rules) == 1
    assert [r["type"] for r in segment.rules["rules"]] == ["user_property", "did"]
    screenshot()
