"""Did the campaign work? (issue #19) in a real browser: a marketer sets a goal and a 10 % holdout in
the builder, publishes, and once the conversions arrive reads the uplift, its interval, the
incremental conversions and their cost; then looks up a held-out profile and reads why."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from promotions import holdout
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun, Grant
from segments.models import CustomListMember, Event, Profile
from tests.e2e.test_builder import PASSWORD, TZ_LABEL, catalogue, publish, save, section, start_campaign, swap  # noqa: F401
from tests.promotions.factories import CustomListFactory

pytestmark = pytest.mark.django_db(transaction=True)
AUDIENCE = 600


def test_goal_and_holdout_set_in_the_builder_then_uplift_and_why_on_the_campaign_page(page, screenshot, catalogue):  # noqa: F811
    shoppers = CustomListFactory(name="Shoppers", size=AUDIENCE)
    profiles = Profile.objects.bulk_create([Profile(identity=f"shopper-{i:03d}") for i in range(AUDIENCE)])
    CustomListMember.objects.bulk_create(CustomListMember(custom_list=shoppers, profile=p) for p in profiles)

    start_campaign(page, name="Weekend cashback")
    who = section(page, "Who")
    with swap(page):
        who.get_by_label("A custom list", exact=True).check()
    with swap(page):
        who.get_by_label("Custom list", exact=True).select_option(label="Shoppers")
    save(page, "Who")

    what = section(page, "What")
    with swap(page):
        what.get_by_label("Wallet points", exact=True).check()
    what.get_by_label("Wallet", exact=True).select_option(label="Supercoins (Supercoins)")
    with swap(page):
        what.get_by_label("Flat", exact=True).check()
    what.get_by_label("Points", exact=True).fill("100")
    what.get_by_label("Holdout (% of qualifying profiles not rewarded, optional)").fill("10")
    with swap(page):
        what.get_by_label("Conversion goal (optional)").select_option("Charged")
    # The goal's details appear once its event is chosen; what was typed stays.
    expect(what.get_by_label("Holdout (% of qualifying profiles not rewarded, optional)")).to_have_value("10")
    what.get_by_label("Counts within").fill("2")
    what.get_by_label("Unit", exact=True).last.select_option("days")
    what.get_by_label("Sum as the goal's value (optional)").select_option("Amount")
    save(page, "What")

    when = section(page, "When")
    with swap(page):
        when.get_by_label(f"Send now {TZ_LABEL}", exact=True).check()
    save(page, "When")
    summary = section(page, "Publish")
    expect(summary.get_by_text("Charged, within 2 days of qualifying; value: sum of Amount")).to_be_visible()
    expect(summary.get_by_text("10 % of qualifying profiles are not rewarded")).to_be_visible()
    campaign = publish(page, name="Weekend cashback", status="Running")

    # The run (what the worker does), then the conversions: 40 % of the rewarded, 10 % of the holdout.
    sweeps.runs_dispatch_due()
    run = CampaignRun.objects.get(campaign=campaign)
    while runs.run_distribute_chunk(run_id=run.pk, chunk_size=250) == runs.MORE:
        pass
    held = holdout.held_out_ids(campaign_id=campaign.pk, profile_ids=[p.pk for p in profiles], percent=10)
    assert Grant.objects.filter(campaign=campaign, reason=Grant.Reason.HELD_OUT).count() == len(held)
    soon = timezone.now() + datetime.timedelta(minutes=5)
    Event.objects.bulk_create(
        Event(profile=p, name="Charged", properties={"Amount": 80}, occurred_at=soon)
        for i, p in enumerate(profiles)
        if (i % 10 < 1) or (p.pk not in held and i % 10 < 4)
    )

    page.reload()
    report = page.locator("#outcome-report")
    expect(report).to_contain_text("Not computed yet")
    report.get_by_role("button", name="Refresh").click()
    expect(report.locator("#outcome-verdict")).to_contain_text("the reward raised conversion")
    expect(report.locator("#uplift-absolute")).to_contain_text("95 % CI")
    expect(report.locator("#uplift-incremental")).to_be_visible()
    expect(report.locator("#uplift-cost")).to_contain_text("points")
    expect(report.locator("#outcome-holdout")).to_contain_text(f"{len(held)}")
    expect(report.locator("#outcome-computed")).to_contain_text("Computed")
    expect(page.locator("#campaign-errors")).to_contain_text("No distribution errors")

    one = next(p for p in profiles if p.pk in held)
    page.get_by_label("Identity", exact=True).fill(one.identity)
    page.get_by_role("button", name="Look up").click()
    why = page.locator("#profile-why")
    expect(why.locator("#why-summary")).to_contain_text("in the holdout group")
    expect(why).to_contain_text("Held out: in the holdout group, deliberately not rewarded (not an error).")
    assert f"identity={one.identity}" in page.url
    screenshot()
    campaign.refresh_from_db()
    assert campaign.holdout_percent == 10 and campaign.goal_event == "Charged"
    assert campaign.status in (Campaign.Status.RUNNING, Campaign.Status.COMPLETED)
