from datetime import timedelta

import pytest
from django.utils import timezone

from coupons import services
from coupons.models import Coupon, Redemption
from promotions.models import Campaign
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory, CouponFactory
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db

APPLY = "/api/1/promo/coupons/apply"
TRAY = "/api/1/promo/coupons"


def _apply(client, identity, code, kind="redeem"):
    return client.post(APPLY, {"identity": identity, "code": code, "type": kind}, content_type="application/json")


@pytest.fixture
def holder():
    return ProfileFactory(identity="asha")


@pytest.fixture
def bulk_code(holder):
    coupon = add_codes(BulkCouponFactory(name="Diwali", expiry_after_value=2, expiry_after_unit="days"), 3)
    return services.code_assign(coupon=coupon, profile=holder, campaign=None, occurrence="run:1")


def _at(monkeypatch, moment):
    monkeypatch.setattr(services.redemption.timezone, "now", lambda: moment)


def test_redeem_succeeds_once_and_is_recorded(api_client, holder, bulk_code):
    response = _apply(api_client, "asha", bulk_code.code)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["code"] == bulk_code.code and body["redemptions"] == 1
    assert Redemption.objects.filter(assignment=bulk_code, kind="redeem").count() == 1
    bulk_code.coupon.refresh_from_db()
    assert bulk_code.coupon.codes_redeemed == 1


def test_redeeming_twice_is_refused_as_already_redeemed(api_client, bulk_code):
    _apply(api_client, "asha", bulk_code.code)
    response = _apply(api_client, "asha", bulk_code.code)
    assert response.status_code == 409
    assert response.json() == {
        "status": "fail",
        "code": 409,
        "error": "This code has already been redeemed.",
        "reason": "already_redeemed",
    }


def test_a_code_held_by_another_profile_is_refused_as_not_assigned(api_client, bulk_code):
    ProfileFactory(identity="ravi")
    response = _apply(api_client, "ravi", bulk_code.code)
    assert response.status_code == 409
    assert response.json()["reason"] == "not_assigned"
    assert response.json()["error"] == "This code is not assigned to this profile."
    assert not Redemption.objects.exists()


def test_activation_delay_boundary(api_client, holder, monkeypatch):
    coupon = add_codes(BulkCouponFactory(), 2)
    start = timezone.now() + timedelta(hours=48)
    assignment = services.code_assign(
        coupon=coupon, profile=holder, campaign=None, occurrence="r", redeemable_from=start
    )
    _at(monkeypatch, start - timedelta(microseconds=1))
    response = _apply(api_client, "asha", assignment.code)
    assert response.status_code == 409
    assert response.json()["reason"] == "not_yet_redeemable"
    assert response.json()["error"] == f"This code is not redeemable yet: it becomes redeemable at {start.isoformat()}."
    _at(monkeypatch, start)  # exactly at redeemable_from: redeemable
    assert _apply(api_client, "asha", assignment.code).status_code == 200


def test_expired_code_is_refused(api_client, bulk_code, monkeypatch):
    assert bulk_code.expires_at == bulk_code.redeemable_from + timedelta(days=2)
    _at(monkeypatch, bulk_code.expires_at)
    response = _apply(api_client, "asha", bulk_code.code)
    assert response.status_code == 409
    assert response.json()["reason"] == "expired"
    assert response.json()["error"] == f"This code expired at {bulk_code.expires_at.isoformat()}."


def test_paused_coupon_refuses_redemption(api_client, bulk_code):
    Coupon.objects.filter(pk=bulk_code.coupon_id).update(status=Coupon.Status.PAUSED)
    response = _apply(api_client, "asha", bulk_code.code)
    assert response.status_code == 409
    assert response.json()["reason"] == "coupon_inactive"
    assert response.json()["error"] == "This coupon is not active (it is Paused)."


def test_single_code_per_user_and_total_limits(api_client, holder):
    coupon = CouponFactory(code="WELCOME100", per_user_limit=2, total_limit=3)
    other = ProfileFactory(identity="ravi")
    for profile in (holder, other):
        services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence="signup")
    assert _apply(api_client, "asha", "WELCOME100").status_code == 200
    assert _apply(api_client, "asha", "WELCOME100").status_code == 200
    third = _apply(api_client, "asha", "WELCOME100")
    assert third.status_code == 409 and third.json()["reason"] == "limit_reached"
    assert _apply(api_client, "ravi", "WELCOME100").status_code == 200
    total = _apply(api_client, "ravi", "WELCOME100")
    assert total.status_code == 409 and total.json() == {
        "status": "fail",
        "code": 409,
        "error": "This coupon's redemption limit has been reached.",
        "reason": "limit_reached",
    }
    coupon.refresh_from_db()
    assert coupon.codes_redeemed == 3


def test_single_code_with_empty_per_user_limit_is_redeemable_without_limit(api_client, holder):
    coupon = CouponFactory(code="ALWAYS5", per_user_limit=None, total_limit=None)
    services.code_assign(coupon=coupon, profile=holder, campaign=None, occurrence="signup")
    for _ in range(7):
        response = _apply(api_client, "asha", "ALWAYS5")
        assert response.status_code == 200
    assert response.json()["redemptions"] == 7
    coupon.refresh_from_db()
    assert coupon.codes_redeemed == 7 and Redemption.objects.filter(coupon=coupon).count() == 7


def test_revert_undoes_a_redemption_and_allows_redeeming_again(api_client, bulk_code):
    _apply(api_client, "asha", bulk_code.code)
    response = _apply(api_client, "asha", bulk_code.code, "revert")
    assert response.status_code == 200 and response.json()["redemptions"] == 0
    bulk_code.refresh_from_db()
    assert bulk_code.redeem_count == 0 and bulk_code.redeemed_at is None
    assert list(Redemption.objects.order_by("pk").values_list("kind", flat=True)) == ["redeem", "revert"]
    assert _apply(api_client, "asha", bulk_code.code).status_code == 200


def test_revert_of_an_unredeemed_code_is_refused(api_client, bulk_code):
    response = _apply(api_client, "asha", bulk_code.code, "revert")
    assert response.status_code == 409
    assert response.json()["reason"] == "not_redeemed"
    assert response.json()["error"] == "This code has not been redeemed, so there is nothing to revert."


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("not json", 400, "The body must be a JSON object."),
        ({"code": "X", "type": "redeem"}, 400, "identity is required (the profile's identity, a string)."),
        ({"identity": "asha", "type": "redeem"}, 400, "code is required (the coupon code, a string)."),
        ({"identity": "asha", "code": "X", "type": "burn"}, 400, "type must be “redeem” or “revert”."),
        ({"identity": "nobody", "code": "X", "type": "redeem"}, 404, "No profile has identity “nobody”."),
    ],
)
def test_apply_validates_its_body(api_client, holder, body, status, error):
    response = api_client.post(APPLY, body, content_type="application/json")
    assert response.status_code == status
    assert response.json()["error"] == error


def test_apply_needs_an_api_key(client, bulk_code):
    assert _apply(client, "asha", bulk_code.code).status_code == 401


def test_tray_lists_the_profiles_codes_with_redeemability(api_client, holder, monkeypatch):
    campaign = Campaign.objects.create(name="Festive")
    coupon = add_codes(BulkCouponFactory(name="Diwali", discount_label="20% off"), 2)
    later = timezone.now() + timedelta(hours=1)
    waiting = services.code_assign(
        coupon=coupon, profile=holder, campaign=campaign, occurrence="run:1", redeemable_from=later
    )
    single = CouponFactory(name="Welcome", code="WELCOME100")
    services.code_assign(coupon=single, profile=holder, campaign=None, occurrence="signup")
    services.coupon_redeem(profile=holder, code="WELCOME100")
    ProfileFactory(identity="ravi")
    response = api_client.post(TRAY, {"identity": "asha"}, content_type="application/json")
    assert response.status_code == 200
    records = response.json()["records"]
    assert [r["code"] for r in records] == ["WELCOME100", waiting.code]
    welcome, diwali = records
    assert welcome["redeemable"] is False and welcome["redeemedAt"] is not None
    assert diwali["redeemable"] is False and diwali["redeemableFrom"] == later.isoformat()
    assert diwali["campaignName"] == "Festive" and diwali["couponName"] == "Diwali"
    assert diwali["discountLabel"] == "20% off" and diwali["expiresAt"] is None
    monkeypatch.setattr("coupons.selectors.timezone.now", lambda: later)
    records = api_client.post(TRAY, {"identity": "asha"}, content_type="application/json").json()["records"]
    assert records[1]["redeemable"] is True
    other = api_client.post(TRAY, {"identity": "ravi"}, content_type="application/json").json()
    assert other == {"status": "success", "identity": "ravi", "records": []}


def test_tray_refuses_an_unknown_identity(api_client):
    response = api_client.post(TRAY, {"identity": "ghost"}, content_type="application/json")
    assert response.status_code == 404
    assert response.json()["error"] == "No profile has identity “ghost”."
