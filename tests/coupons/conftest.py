import pytest

from coupons import services
from tests.coupons.factories import BulkCouponFactory


@pytest.fixture
def series(db):
    """An Active bulk series of 20 generated codes."""
    coupon = BulkCouponFactory(name="Series")
    services.code_generation_start(
        coupon=coupon, code_format="alphanumeric", length=8, prefix="S-", suffix="", count=20, actor=None, run_now=True
    )
    coupon.refresh_from_db()
    return coupon


def add_codes(coupon, count, prefix="C-"):
    services.code_generation_start(
        coupon=coupon,
        code_format="alphanumeric",
        length=8,
        prefix=prefix,
        suffix="",
        count=count,
        actor=None,
        run_now=True,
    )
    coupon.refresh_from_db()
    return coupon
