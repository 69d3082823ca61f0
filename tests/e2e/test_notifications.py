"""The notification area (issue #20): a low-stock alert shows as an unread count in the
navigation, opens as a list, and marking it read clears the count."""

import pytest
from django.db.models import F
from playwright.sync_api import expect

from coupons.models import Coupon
from tests.e2e.conftest import sign_in
from tests.factories import UserFactory
from tests.promotions.factories import CouponFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_low_stock_alert_is_counted_listed_and_marked_read(page, screenshot):
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    coupon = CouponFactory(name="Summer", codes_total=100, low_stock_threshold=10)
    Coupon.objects.filter(pk=coupon.pk).update(codes_assigned=F("codes_assigned") + 95)
    sign_in(page, "mia", "a-long-demo-password")

    badge = page.locator("#notification-badge")
    expect(badge.locator(".notif-count")).to_have_text("1")
    badge.click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.get_by_role("link", name='Coupon "Summer" is low on codes: 5 left')).to_be_visible()
    screenshot("notifications_unread")

    page.get_by_role("button", name="Mark read").click()
    expect(page.get_by_text("0 unread")).to_be_visible()
    page.reload()
    expect(page.locator("#notification-badge .notif-count")).to_have_count(0)
    screenshot()
