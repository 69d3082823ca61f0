"""The other event types (issue #20): coupon redeem/revert, points expiring, upload failures."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import dates
from accounts.account import account_tzinfo
from coupons import services as coupon_services
from coupons.models import CodeBatch
from segments.models import CustomListUpload
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory
from tests.factories import UserFactory
from tests.promotions.factories import custom_list_with
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import services as wallet_services
from wallets.models import Source
from webhooks import services
from webhooks.models import Notification, WebhookEvent

pytestmark = pytest.mark.django_db


def subscribe(*types):
    return services.endpoint_create(url="https://hooks.example.com/t", event_types=list(types))[0]


def test_coupon_redeemed_and_reverted_are_recorded_with_the_holder():
    subscribe("coupon.redeemed", "coupon.reverted")
    holder = ProfileFactory(identity="asha")
    coupon = add_codes(BulkCouponFactory(name="Diwali"), 2)
    assignment = coupon_services.code_assign(coupon=coupon, profile=holder, campaign=None, occurrence="run:1")
    coupon_services.coupon_redeem(profile=holder, code=assignment.code)
    coupon_services.coupon_revert(profile=holder, code=assignment.code)
    events = list(WebhookEvent.objects.order_by("pk"))
    assert [e.type for e in events] == ["coupon.redeemed", "coupon.reverted"]
    assert events[0].payload["identity"] == "asha" and events[0].payload["code"] == assignment.code
    assert events[0].payload["couponName"] == "Diwali"


def test_points_expiring_digest_once_a_day_per_profile_and_wallet():
    subscribe("points.expiring")
    wallet = WalletFactory(expiry_notice_days=3)
    soon, later = ProfileFactory(identity="soon"), ProfileFactory(identity="later")
    now = timezone.now()
    with transaction.atomic():
        for profile, days in ((soon, 2), (soon, 1), (later, 10)):
            wallet_services.wallet_credit(
                wallet=wallet,
                profile=profile,
                points=Decimal(10),
                source=Source.API,
                expires_at=now + datetime.timedelta(days=days),
            )
    now = timezone.now()
    assert wallet_services.points_expiring_digest(now=now) == 1
    (event,) = WebhookEvent.objects.filter(type="points.expiring")
    assert event.payload["identity"] == "soon" and Decimal(str(event.payload["points"])) == 20
    assert len(event.payload["lots"]) == 2
    # Later the same account day (not "an hour later": from 17:30 UTC that is tomorrow in Kolkata).
    midnight = dates.day_end(now.astimezone(account_tzinfo()).date())
    assert wallet_services.points_expiring_digest(now=now + (midnight - now) / 2) == 0


def test_failed_uploads_alert_the_marketers():
    maya = UserFactory(username="maya", groups=["Marketer"])
    custom_list = custom_list_with(1)
    upload = CustomListUpload.objects.create(custom_list=custom_list, original_name="vip.csv", file="x.csv")
    CustomListUpload.objects.filter(pk=upload.pk).update(status="failed", error="No identity column")
    coupon = BulkCouponFactory(name="Diwali")
    batch = CodeBatch.objects.create(coupon=coupon, source="import", requested=0)
    CodeBatch.objects.filter(pk=batch.pk).update(status="failed", error="Bad file")
    titles = sorted(Notification.objects.filter(user=maya).values_list("title", flat=True))
    assert titles == ['Code upload for coupon "Diwali" failed', "Custom list upload vip.csv failed"]
