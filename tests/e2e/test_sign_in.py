import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.factories import UserFactory
from tests.vouchers.factories import PartnerUserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_marketer_signs_in_and_sees_the_navigation(page, screenshot):
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    sign_in(page, "mia", "a-long-demo-password")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    for label in ("Campaigns", "Audience", "Wallets", "Coupons", "Vouchers"):
        expect(page.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.get_by_text("(GMT+05:30) Asia/Kolkata")).to_be_visible()
    assert page.url.endswith("/campaigns/")
    screenshot()


def test_partner_signs_in_to_the_partner_area_only(page, screenshot):
    PartnerUserFactory(user__username="pat", user__password="a-long-demo-password", partner__name="ShopCo")
    sign_in(page, "pat", "a-long-demo-password")
    expect(page.get_by_role("heading", name="ShopCo")).to_be_visible()
    expect(page.get_by_role("link", name="Campaigns", exact=True)).to_have_count(0)
    page.goto("/campaigns/")
    expect(page.get_by_text("You don't have access to this page")).to_be_visible()
    screenshot()


def test_bad_password_keeps_you_on_the_sign_in_page(page):
    UserFactory(username="mia", groups=["Marketer"], password="a-long-demo-password")
    sign_in(page, "mia", "wrong")
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
