"""Demo campaigns for `make run`: one of each kind, in different statuses (idempotent)."""

import datetime

from django.contrib.auth import get_user_model
from django.utils import timezone

from coupons.models import Coupon
from promotions.engine import live
from promotions.models import Campaign
from segments.models import CustomList
from vouchers.models import VoucherList
from wallets.models import Wallet

DEMO_PREFIX = "Demo: "


def load(stdout) -> None:
    if Campaign.objects.filter(name__startswith=DEMO_PREFIX).exists():
        stdout.write("  promotions: demo campaigns already present")
        return
    marketer = get_user_model().objects.filter(username="marketer").first()
    wallet, _ = Wallet.objects.get_or_create(name="Supercoins", defaults={"points_name": "Supercoins"})
    now = timezone.now()
    done = {"start_complete": True, "who_complete": True, "what_complete": True, "when_complete": True}
    common = {"created_by": marketer, **done}
    points = {"reward_type": "points", "wallet": wallet, "points_type": "flat", "flat_points": 100}
    Campaign.objects.create(
        name=DEMO_PREFIX + "Welcome bonus",
        qualification=Campaign.Qualification.PAST_BEHAVIOR,
        audience_source="rules",
        rules={"op": "and", "rules": [{"type": "did", "event": "Charged"}]},
        delivery="later",
        scheduled_at=now + datetime.timedelta(days=2),
        starts_at=now + datetime.timedelta(days=2),
        status=Campaign.Status.DRAFT,
        **points,
        **common,
    )
    Campaign.objects.create(
        name=DEMO_PREFIX + "Cashback on orders",
        qualification=Campaign.Qualification.LIVE_ACTION,
        triggers=[{"event": "Charged", "filters": []}],
        reward_type="points",
        wallet=wallet,
        points_type="random",
        random_min=10,
        random_max=100,
        random_favor="avg",
        budget_campaign=50000,
        live_start="now",
        live_end="never",
        starts_at=now,
        published_at=now,
        status=Campaign.Status.RUNNING,
        **common,
    )
    coupon = Coupon.objects.filter(kind=Coupon.Kind.BULK).first()
    Campaign.objects.create(
        name=DEMO_PREFIX + "Cart reminder",
        qualification=Campaign.Qualification.LIVE_INACTION,
        inaction_event_a="Added To Cart",
        inaction_event_b="Charged",
        inaction_window_value=30,
        inaction_window_unit="minutes",
        constant_property="Product ID",
        reward_type="coupon" if coupon else "points",
        coupon=coupon,
        coupon_kind="bulk" if coupon else "",
        wallet=None if coupon else wallet,
        points_type="" if coupon else "flat",
        flat_points=None if coupon else 50,
        live_start="now",
        live_end="never",
        starts_at=now - datetime.timedelta(days=3),
        status=Campaign.Status.PAUSED,
        **common,
    )
    custom_list = CustomList.objects.first()
    voucher_list = VoucherList.objects.select_related("partner").first()
    if custom_list and voucher_list:
        Campaign.objects.create(
            name=DEMO_PREFIX + "Partner thank-you",
            qualification=Campaign.Qualification.CUSTOM_LIST,
            audience_source="custom_list",
            custom_list=custom_list,
            reward_type="voucher",
            partner=voucher_list.partner,
            voucher_list=voucher_list,
            delivery="now",
            starts_at=now - datetime.timedelta(days=10),
            status=Campaign.Status.COMPLETED,
            **common,
        )
    for campaign in Campaign.objects.filter(name__startswith=DEMO_PREFIX):
        live.triggers_sync(campaign=campaign)  # the live matcher's event-name lookup
    stdout.write("  promotions: demo campaigns created")
