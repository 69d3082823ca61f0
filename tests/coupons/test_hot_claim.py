"""Giving a code is a HOT update of its row (issue #18): `assigned_at` is in no index, so the
claim writes no new index entries for the code, and the code tables' fillfactor leaves each page
room for its codes' new versions. Read from PostgreSQL's own counters for this transaction."""

import pytest
from django.db import connection

from coupons import services
from coupons.models import CodeAssignment, Coupon, CouponCode
from promotions.models import Campaign
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.factories import VoucherListFactory
from tests.segments.factories import ProfileFactory
from tests.vouchers.helpers import load_codes
from vouchers import services as voucher_services
from vouchers.models import VoucherCode

pytestmark = pytest.mark.django_db


def updates(table: str) -> tuple[int, int]:
    """(rows updated, of which HOT) in `table` by the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()


def test_a_bulk_series_gives_its_codes_with_hot_updates_only():
    coupon = add_codes(BulkCouponFactory(), 300)
    ids = [p.pk for p in ProfileFactory.create_batch(250)]
    before = updates("coupons_couponcode")
    given = services.code_assign_bulk(coupon=coupon, profile_ids=ids, campaign=None, occurrence="run:1")
    after = updates("coupons_couponcode")
    assert len(given) == 250
    assert (after[0] - before[0], after[1] - before[1]) == (250, 250)  # every one HOT
    coupon.refresh_from_db()
    assert coupon.codes_assigned == 250 == CouponCode.objects.filter(coupon=coupon, assigned_at__isnull=False).count()


def test_a_voucher_list_gives_its_codes_with_hot_updates_only():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, [f"V-{n:05d}" for n in range(200)])
    ids = [p.pk for p in ProfileFactory.create_batch(150)]
    before = updates("vouchers_vouchercode")
    given = voucher_services.voucher_assign_bulk(
        voucher_list=voucher_list, profile_ids=ids, campaign=None, occurrence="r"
    )
    after = updates("vouchers_vouchercode")
    assert len(given) == 150
    assert (after[0] - before[0], after[1] - before[1]) == (150, 150)
    assert VoucherCode.objects.filter(voucher_list=voucher_list, assigned_at__isnull=True).count() == 50


def test_codes_are_given_in_order_from_the_cursor_and_one_left_behind_it_is_still_given():
    coupon = add_codes(BulkCouponFactory(), 6)
    campaign = Campaign.objects.create(name="Run")
    first = [p.pk for p in ProfileFactory.create_batch(2)]
    services.code_assign_bulk(coupon=coupon, profile_ids=first, campaign=campaign, occurrence="run:1")
    code_ids = list(CouponCode.objects.filter(coupon=coupon).order_by("pk").values_list("pk", flat=True))
    coupon.refresh_from_db()
    assert coupon.codes_cursor == code_ids[1]  # the two lowest ids went first
    # A claim that rolled back behind the cursor leaves free codes below it (simulated: the
    # cursor moved past code 3 without giving it). They are found again, not lost.
    Coupon.objects.filter(pk=coupon.pk).update(codes_cursor=code_ids[3])
    rest = [p.pk for p in ProfileFactory.create_batch(5)]
    given = services.code_assign_bulk(coupon=coupon, profile_ids=rest, campaign=campaign, occurrence="run:1")
    assert len(given) == 4  # every code the series had left, none twice
    assert sorted(CodeAssignment.objects.filter(coupon=coupon).values_list("coupon_code_id", flat=True)) == code_ids
    coupon.refresh_from_db()
    assert coupon.codes_assigned == coupon.codes_total == 6
