"""The detail page while a run distributes: the progress region polls, stops when done; codes-out alert."""

import datetime

import pytest
from django.utils import timezone

from coupons import services as coupon_services
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.helpers import HTMX, campaign_past

pytestmark = pytest.mark.django_db
C = Campaign
POLL = 'hx-trigger="every 3s"'


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)


def running(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.Status.RUNNING)
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due() == [run.pk]
    return run


def progress(client, campaign):
    return client.get(f"/campaigns/{campaign.pk}/progress/", **HTMX)


def test_progress_region_polls_while_distributing_and_stops_when_done(marketer_client):
    campaign = campaign_past(members=5)
    run = running(campaign)
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f'hx-get="/campaigns/{campaign.pk}/progress/" {POLL}' in page

    runs.run_distribute_chunk(run_id=run.pk, chunk_size=2)
    response = progress(marketer_client, campaign)
    partial = response.content.decode()
    assert "<html" not in partial and partial.lstrip().startswith('<div id="run-progress"')
    assert POLL in partial and "HX-Refresh" not in response.headers
    assert "2 of 5 processed · 2 granted" in partial
    assert 'aria-valuenow="40"' in partial

    while runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.MORE:
        pass
    response = progress(marketer_client, campaign)
    partial = response.content.decode()
    assert POLL not in partial and "hx-get" not in partial  # the swapped-in region polls no more
    assert response.headers["HX-Refresh"] == "true"  # one reload shows the final status and stats
    assert "No distribution under way." in partial
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert POLL not in page and 'id="campaign-status">Completed</span>' in page


def test_scheduled_campaign_polls_for_its_pending_run(marketer_client):
    campaign = campaign_past(members=2, status=C.Status.SCHEDULED)
    CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() + datetime.timedelta(hours=1))
    response = progress(marketer_client, campaign)
    assert POLL in response.content.decode() and "HX-Refresh" not in response.headers


def test_codes_ran_out_alert_on_the_campaign_page(marketer_client):
    coupon = BulkCouponFactory(name="Diwali")
    coupon_services.code_generation_start(
        coupon=coupon,
        code_format="alphanumeric",
        length=8,
        prefix="D-",
        suffix="",
        count=2,
        actor=None,
        run_now=True,
    )
    campaign = campaign_past(
        members=4, reward_type=C.RewardType.COUPON, coupon_kind=C.CouponKind.BULK, coupon=coupon, wallet=None
    )
    run = running(campaign)
    assert 'id="codes-out-alert"' not in marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    while runs.run_distribute_chunk(run_id=run.pk) == runs.MORE:
        pass
    page = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    alert = 'id="codes-out-alert">Codes ran out: some profiles got no code (Bulk codes exhausted). Add codes to the'
    assert alert + " coupon series" in page
    assert "<td>Bulk codes exhausted</td>" in page
    assert 'id="codes-out-alert"' in progress(marketer_client, campaign).content.decode()
