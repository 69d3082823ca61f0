"""The campaign page tells the whole story (issue #16, SPEC 5)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from promotions.engine import limits
from promotions.models import Campaign, Grant
from tests.promotions.factories import VoucherListFactory
from tests.promotions.helpers import KOLKATA, campaign_live, campaign_past
from tests.promotions.live_support import process, reasons, running_live, store
from tests.promotions.test_live import bulk_coupon
from tests.vouchers.factories import PartnerFactory
from tests.vouchers.helpers import load_codes
from wallets.models import Lot

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason


def _html(client, campaign) -> str:
    return client.get(campaign.get_absolute_url()).content.decode()


def test_points_campaign_shows_its_points_by_bucket(marketer_client):
    campaign = campaign_past(status=C.Status.RUNNING, members=0)
    now = timezone.now()
    day = datetime.timedelta(days=1)
    wallet = campaign.wallet
    from tests.segments.factories import ProfileFactory

    def lot(amount, remaining, activates_at, expires_at=None):
        Lot.objects.create(
            wallet=wallet,
            profile=ProfileFactory(),
            amount=amount,
            remaining=remaining,
            activates_at=activates_at,
            expires_at=expires_at,
            source="CAMPAIGN",
            campaign=campaign,
            occurrence="run:1",
        )

    lot(100, 100, now + day)  # promised
    lot(100, 60, now - day)  # 60 active, 40 redeemed
    lot(100, 100, now - 2 * day, now - day)  # expired
    html = _html(marketer_client, campaign)
    assert 'id="points-buckets"' in html
    assert 'id="bucket-promised">100<' in html
    assert 'id="bucket-active">60<' in html
    assert 'id="bucket-expired">100<' in html
    assert 'id="bucket-redeemed">40<' in html


def test_points_campaign_page_reads_its_buckets_from_the_lot_rollup_not_the_lots(marketer_client):
    """A campaign that credited a million lots answers in milliseconds (issue #18): the page sums
    the campaign's few rollup rows and reads no lot."""
    campaign = campaign_past(status=C.Status.RUNNING, members=0)
    from tests.segments.factories import ProfileFactory
    from wallets import services as wallet_services

    ids = [ProfileFactory().pk for _ in range(4)]
    wallet_services.wallet_credit_bulk(
        wallet=campaign.wallet, profile_ids=ids, points=25, campaign=campaign, occurrence="run:1"
    )
    profile = Lot.objects.filter(campaign=campaign).first().profile
    wallet_services.wallet_debit(wallet=campaign.wallet, profile=profile, points=10, source="API")
    with CaptureQueriesContext(connection) as queries:
        html = _html(marketer_client, campaign)
    assert 'id="bucket-active">90<' in html
    assert 'id="bucket-redeemed">10<' in html
    assert not [q["sql"] for q in queries if '"wallets_lot"' in q["sql"]]
    assert [q["sql"] for q in queries if '"wallets_lotrollup"' in q["sql"]]


def test_code_campaigns_show_codes_left_live_ones_included(marketer_client):
    coupon = bulk_coupon(3)
    live_campaign = running_live(reward_type=C.RewardType.COUPON, coupon=coupon, coupon_kind="bulk", wallet=None)
    process(store())
    html = _html(marketer_client, live_campaign)
    assert 'id="codes-left">Codes left in the coupon series: <strong>2</strong>' in html
    assert 'id="points-buckets"' not in html

    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["V1", "V2"])
    past = campaign_past(reward_type=C.RewardType.VOUCHER, voucher_list=voucher_list, wallet=None, members=0)
    assert 'id="codes-left">Codes left in the voucher list: <strong>2</strong>' in _html(marketer_client, past)


def test_live_coupon_campaign_whose_codes_run_out_completes_and_says_why(marketer_client):
    campaign = running_live(reward_type=C.RewardType.COUPON, coupon=bulk_coupon(1), coupon_kind="bulk", wallet=None)
    process(store(), store())
    assert reasons(campaign) == ["", R.BULK_CODES_EXHAUSTED]
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED
    assert campaign.end_reason == "Codes ran out: the coupon series has no code left to give"
    html = _html(marketer_client, campaign)
    assert 'id="codes-out-alert"' in html
    assert "Codes ran out: some profiles got no code (Bulk codes exhausted)." in html
    assert "The campaign ended: Codes ran out: the coupon series has no code left to give." in html
    # Completed: a later event gives nothing and records nothing.
    process(store())
    assert reasons(campaign) == ["", R.BULK_CODES_EXHAUSTED]


def test_live_voucher_campaign_whose_codes_run_out_completes():
    small = VoucherListFactory()
    load_codes(small, ["W1"])
    campaign = running_live(reward_type=C.RewardType.VOUCHER, voucher_list=small, wallet=None)
    process(store(), store())
    campaign.refresh_from_db()
    assert (campaign.status, campaign.end_reason) == (
        C.Status.COMPLETED,
        limits.END_CODES_OUT.format(source="voucher list"),
    )


def test_summary_names_the_voucher_provider_and_times_carry_the_timezone(marketer_client):
    partner = PartnerFactory(name="ShopCo")
    voucher_list = VoucherListFactory(partner=partner, name="Festive", tag="festive")
    starts = timezone.now() + datetime.timedelta(days=1)
    ends = starts + datetime.timedelta(days=7)
    campaign = campaign_live(
        reward_type=C.RewardType.VOUCHER,
        partner=partner,
        voucher_list=voucher_list,
        wallet=None,
        live_start=C.LiveStart.AT,
        starts_at=starts,
        live_end=C.LiveEnd.AT,
        ends_at=ends,
        status=C.Status.SCHEDULED,
    )
    html = _html(marketer_client, campaign)
    assert "<dt>Code provider</dt><dd>ShopCo</dd>" in html
    local = starts.astimezone(KOLKATA)
    assert f"<dt>Start</dt><dd>{local:%-d %b %Y, %H:%M} (GMT+05:30) Asia/Kolkata</dd>" in html
    assert 'id="campaign-end">End: ' in html and "(GMT+05:30) Asia/Kolkata</div>" in html
