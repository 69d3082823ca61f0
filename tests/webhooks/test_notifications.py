"""Alerts for people (issue #20): written by the database in the causing transaction, shown in the
notification area, e-mailed through Django's mail settings; partners see only their lists'."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.db.models import F

from coupons.models import Coupon
from promotions.engine.grants import reward_profiles
from promotions.models import Campaign
from tests.factories import UserFactory
from tests.promotions.factories import CouponFactory
from tests.promotions.helpers import campaign_past
from tests.vouchers.factories import PartnerUserFactory, VoucherListFactory
from vouchers.models import VoucherList
from webhooks import services
from webhooks.models import Notification, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return [
        UserFactory(username="maya", email="maya@example.com", groups=["Marketer"]),
        UserFactory(username="ada", email="ada@example.com", is_staff=True, is_superuser=True),
    ]


def test_budget_80_and_100_percent_raise_a_notification_and_an_email_each(staff):
    services.endpoint_create(url="https://hooks.example.com/b", event_types=["budget.threshold"])
    campaign = campaign_past(members=5, budget_campaign=Decimal("500"))
    ids = sorted(campaign.custom_list.members.values_list("profile_id", flat=True))
    with transaction.atomic():
        reward_profiles(campaign=campaign, profile_ids=ids[:3], occurrence="run:1")  # 300 of 500
    assert not Notification.objects.exists()
    with transaction.atomic():
        reward_profiles(campaign=campaign, profile_ids=ids[3:4], occurrence="run:1")  # 400: 80 %
    with transaction.atomic():
        reward_profiles(campaign=campaign, profile_ids=ids[4:], occurrence="run:1")  # 500: 100 %

    titles = sorted(set(Notification.objects.values_list("title", flat=True)))
    assert titles == [
        'Campaign "Diwali bonus" has used 100 % of its points budget',
        'Campaign "Diwali bonus" has used 80 % of its points budget',
    ]
    assert Notification.objects.filter(user=staff[0]).count() == 2
    assert [e.payload["threshold"] for e in WebhookEvent.objects.filter(type="budget.threshold").order_by("pk")] == [
        80,
        100,
    ]

    assert services.notifications_email() == 4
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com"] * 2 + ["maya@example.com"] * 2
    assert mail.outbox[0].subject.startswith("[Promo Campaigns] Campaign")
    assert services.notifications_email() == 0  # each is sent once


def test_a_bulk_series_going_low_then_empty_alerts_once_each(staff):
    coupon = CouponFactory(name="Summer", codes_total=100, low_stock_threshold=10)
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=F("codes_assigned") + 85)  # 15 left
    assert not Notification.objects.exists()
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=F("codes_assigned") + 6)  # 9 left: low
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=F("codes_assigned") + 1)  # 8 left: still low
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=100)  # exhausted
    titles = list(Notification.objects.filter(user=staff[0]).order_by("pk").values_list("title", flat=True))
    assert titles == ['Coupon "Summer" is low on codes: 9 left', 'Coupon "Summer" has no codes left']
    services.notifications_email()
    assert len(mail.outbox) == 4


def test_a_voucher_list_alert_reaches_its_partner_and_not_another(staff, client):
    mine = PartnerUserFactory(user__username="pat", user__email="pat@example.com")
    other = PartnerUserFactory(user__username="olga")
    voucher_list = VoucherListFactory(partner=mine.partner, tag="gold", codes_total=50, low_stock_threshold=5)
    services.endpoint_create(url="https://hooks.example.com/v", event_types=["inventory.low"])
    VoucherList.objects.filter(pk=voucher_list.pk).update(codes_assigned=46)
    (event,) = WebhookEvent.objects.filter(type="inventory.low")
    assert event.payload == {
        "kind": "voucher_list",
        "voucherListId": voucher_list.pk,
        "partner": mine.partner.name,
        "tag": "gold",
        "codesLeft": 4,
        "threshold": 5,
        "exhausted": False,
    }
    assert Notification.objects.filter(user=mine.user, kind="inventory_low").count() == 1
    assert Notification.objects.filter(user=staff[0], kind="inventory_low").count() == 1
    assert not Notification.objects.filter(user=other.user).exists()

    client.force_login(other.user)
    assert "gold" not in client.get("/notifications/").content.decode()
    client.force_login(mine.user)
    assert "is low on codes: 4 left" in client.get("/notifications/").content.decode()


def test_a_completed_campaign_notifies_the_marketers_and_sends_status_changed(staff):
    services.endpoint_create(url="https://hooks.example.com/c", event_types=["campaign.status_changed"])
    campaign = campaign_past(members=1)
    Campaign.objects.filter(pk=campaign.pk).update(status="running")
    Campaign.objects.filter(pk=campaign.pk).update(status="completed", end_reason="Distribution finished")
    n = Notification.objects.get(user=staff[0])
    assert n.title == 'Campaign "Diwali bonus" completed' and n.body == "Distribution finished"
    changes = [(e.payload["from"], e.payload["to"], e.payload["reason"]) for e in WebhookEvent.objects.order_by("pk")]
    assert changes == [("draft", "running", None), ("running", "completed", "Distribution finished")]


def test_the_badge_counts_unread_and_mark_read_clears_it(staff, client):
    maya = staff[0]
    services.notify(user_ids=[maya.pk], kind="budget", title="One")
    services.notify(user_ids=[maya.pk], kind="budget", title="Two")
    client.force_login(maya)
    badge = client.get("/notifications/badge/")
    assert 'id="notification-badge"' in badge.content.decode() and "<html" not in badge.content.decode()
    assert '<span class="notif-count">2</span>' in badge.content.decode()
    first = Notification.objects.filter(title="One").get()
    response = client.post("/notifications/read/", {"id": first.pk}, HTTP_HX_REQUEST="true")
    assert 'id="notification-area"' in response.content.decode()
    assert "1 unread" in response.content.decode()
    client.post("/notifications/read/")
    assert not Notification.objects.filter(user=maya, read_at=None).exists()


def test_a_failed_run_notifies_the_marketers(staff):
    from django.utils import timezone

    from promotions.models import CampaignRun

    campaign = campaign_past(members=1)
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now(), status="running")
    CampaignRun.objects.filter(pk=run.pk).update(status="failed", error="Wallet deleted")
    n = Notification.objects.get(user=staff[0])
    assert n.title == 'Campaign "Diwali bonus": a run failed' and n.body == "Wallet deleted"
