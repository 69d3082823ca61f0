from datetime import timedelta

import pytest
from django.utils import timezone

from coupons import selectors, services
from coupons.models import CodeAssignment, Coupon, CouponCode
from promotions.models import Campaign
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory, CouponFactory
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(db):
    return Campaign.objects.create(name="Diwali blast")


def test_code_assign_gives_one_unassigned_code_and_records_its_validity(series, campaign):
    series.expiry_after_value, series.expiry_after_unit = 2, Coupon.ExpiryUnit.DAYS
    series.save()
    profile = ProfileFactory()
    start = timezone.now() + timedelta(hours=48)
    assignment = services.code_assign(
        coupon=series, profile=profile, campaign=campaign, occurrence="run:1", redeemable_from=start
    )
    code = CouponCode.objects.get(pk=assignment.coupon_code_id)
    assert code.assigned_at is not None and assignment.code == code.code
    assert assignment.redeemable_from == start
    assert assignment.expires_at == start + timedelta(days=2)
    assert (assignment.campaign, assignment.occurrence, assignment.profile) == (campaign, "run:1", profile)
    series.refresh_from_db()
    assert series.codes_assigned == 1
    assert selectors.coupon_codes_left(coupon=series) == 19


def test_code_assign_is_idempotent_per_campaign_profile_and_occurrence(series, campaign):
    profile = ProfileFactory()
    first = services.code_assign(coupon=series, profile=profile, campaign=campaign, occurrence="event:9")
    again = services.code_assign(coupon=series, profile=profile, campaign=campaign, occurrence="event:9")
    other = services.code_assign(coupon=series, profile=profile, campaign=campaign, occurrence="event:10")
    assert again.pk == first.pk
    assert other.code != first.code
    assert CodeAssignment.objects.count() == 2
    series.refresh_from_db()
    assert series.codes_assigned == 2


def test_code_assign_without_a_campaign_is_idempotent_too(series):
    profile = ProfileFactory()
    first = services.code_assign(coupon=series, profile=profile, campaign=None, occurrence="api:1")
    assert services.code_assign(coupon=series, profile=profile, campaign=None, occurrence="api:1").pk == first.pk


def test_code_assign_returns_none_when_the_series_is_exhausted(campaign):
    coupon = add_codes(BulkCouponFactory(), 2)
    profiles = ProfileFactory.create_batch(3)
    results = [services.code_assign(coupon=coupon, profile=p, campaign=campaign, occurrence="run:1") for p in profiles]
    assert results[2] is None and all(results[:2])
    coupon.refresh_from_db()
    assert coupon.is_exhausted and coupon.codes_left == 0
    assert coupon not in selectors.coupon_available()


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused", "ended", "archived"])
def test_nothing_is_assigned_from_a_coupon_that_is_not_active(series, campaign, status):
    Coupon.objects.filter(pk=series.pk).update(status=status)
    profile = ProfileFactory()
    assert services.code_assign(coupon=series, profile=profile, campaign=campaign, occurrence="r") is None
    assert services.code_assign_bulk(coupon=series, profile_ids=[profile.pk], campaign=campaign, occurrence="r") == []
    assert not CodeAssignment.objects.exists()


def test_code_assign_bulk_gives_each_profile_a_distinct_code_and_skips_repeats(series, campaign):
    profiles = ProfileFactory.create_batch(5)
    ids = [p.pk for p in profiles]
    given = services.code_assign_bulk(coupon=series, profile_ids=ids + ids[:2], campaign=campaign, occurrence="run:3")
    assert sorted(pid for pid, _ in given) == sorted(ids)
    assert len({code for _, code in given}) == 5
    assert services.code_assign_bulk(coupon=series, profile_ids=ids, campaign=campaign, occurrence="run:3") == []
    series.refresh_from_db()
    assert series.codes_assigned == 5
    assert CouponCode.objects.filter(coupon=series, assigned_at__isnull=False).count() == 5


def test_code_assign_bulk_stops_when_codes_run_out(campaign, monkeypatch):
    monkeypatch.setattr(services.assignment, "ASSIGN_CHUNK", 3)
    coupon = add_codes(BulkCouponFactory(), 7)
    ids = [p.pk for p in ProfileFactory.create_batch(10)]
    given = services.code_assign_bulk(coupon=coupon, profile_ids=ids, campaign=campaign, occurrence="run:1")
    assert [pid for pid, _ in given] == ids[:7]
    coupon.refresh_from_db()
    assert coupon.codes_assigned == coupon.codes_total == 7


def test_two_campaigns_sharing_a_series_never_get_the_same_code(series):
    one, two = Campaign.objects.create(name="One"), Campaign.objects.create(name="Two")
    ids = [p.pk for p in ProfileFactory.create_batch(8)]
    a = services.code_assign_bulk(coupon=series, profile_ids=ids, campaign=one, occurrence="run:1")
    b = services.code_assign_bulk(coupon=series, profile_ids=ids, campaign=two, occurrence="run:1")
    assert len(a) == 8 and len(b) == 8
    assert not {c for _, c in a} & {c for _, c in b}


def test_single_code_assignment_records_the_profiles_copy_within_the_total_limit(campaign):
    coupon = CouponFactory(code="WELCOME100", total_limit=3)
    ids = [p.pk for p in ProfileFactory.create_batch(5)]
    given = services.code_assign_bulk(coupon=coupon, profile_ids=ids, campaign=campaign, occurrence="run:1")
    assert given == [(pid, "WELCOME100") for pid in ids[:3]]
    assert CodeAssignment.objects.filter(coupon=coupon, coupon_code__isnull=True).count() == 3
    coupon.refresh_from_db()
    assert coupon.codes_assigned == 3 and coupon.is_exhausted
    assert services.code_assign(coupon=coupon, profile=ProfileFactory(), campaign=campaign, occurrence="x") is None


def test_unlimited_single_code_is_always_available(campaign):
    coupon = CouponFactory(code="FREESHIP", total_limit=None)
    ids = [p.pk for p in ProfileFactory.create_batch(4)]
    assert len(services.code_assign_bulk(coupon=coupon, profile_ids=ids, campaign=campaign, occurrence="r")) == 4
    assert selectors.coupon_codes_left(coupon=coupon) is None
    assert coupon in selectors.coupon_available(kind="single")


def test_coupon_available_lists_active_coupons_with_something_left():
    active_bulk = add_codes(BulkCouponFactory(name="A"), 1)
    empty_bulk = BulkCouponFactory(name="B")
    paused = CouponFactory(name="C", status=Coupon.Status.PAUSED)
    single = CouponFactory(name="D")
    full = CouponFactory(name="E", total_limit=1, codes_assigned=1)
    assert list(selectors.coupon_available()) == [active_bulk, single]
    assert list(selectors.coupon_available(kind="bulk")) == [active_bulk]
    assert empty_bulk.pk and paused.pk and full.pk
