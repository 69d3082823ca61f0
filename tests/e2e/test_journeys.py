"""Whole journeys as each kind of user meets the product (issue 9), in a real browser.

Background work (custom list processing, campaign distribution, voucher uploads) is driven
in-process by the test, calling the same services the Celery tasks call, while the page polls
through HTMX exactly as it does with a worker: the live server's broker is in-memory, so no
worker would receive the tasks. The real worker is exercised in test_embedded_default.py.
Screens these journeys end on are copied to docs/images/ when PROMO_DOC_SCREENSHOTS=1.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from promotions import distribution
from promotions.models import Campaign, CampaignRun, Grant
from segments import services as segment_services
from segments.models import CustomListUpload
from tests.e2e.conftest import sign_in
from tests.e2e.test_builder import PASSWORD, TZ_LABEL, publish, publish_button, save, section, settled, swap
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_live
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets.models import Transaction

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
        files=[{"name": "vip.csv", "mimeType": "text/csv", "buffer": b"Type,Identity\ni,u1\ni,u2\ni,u3\ni,ghost\ni,u1\n"}]
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
    campaign = publish(page, name="VIP welcome", status="Running")

    # The distribution runs (as the beat sweep and the worker would) while the page polls.
    progress = page.locator("#run-progress")
    expect(progress.get_by_text("Run scheduled for")).to_be_visible()
    still_here = not_reloaded(page)
    [run_id] = distribution.runs_dispatch_due()
    while distribution.run_distribute_chunk(run_id=run_id, chunk_size=1) == distribution.MORE:
        time.sleep(0.3)  # one profile per chunk, so the bar has steps to show
    expect(progress.get_by_role("cell", name="Completed")).to_be_visible(timeout=15_000)
    expect(page.locator("#campaign-status")).to_have_text("Completed")
    expect(progress.get_by_text("No distribution under way.")).to_be_visible()
    assert still_here()
    assert CampaignRun.objects.get(pk=run_id).processed == 3
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 3
    credited = Transaction.objects.filter(campaign=campaign).values_list("profile__identity", flat=True)
    assert sorted(credited) == ["u1", "u2", "u3"]  # each list member once, the unknown never
    page.reload()
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
