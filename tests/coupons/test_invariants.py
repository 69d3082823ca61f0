"""Hypothesis: any interleaving of assign / redeem / revert keeps every code given at most once."""

import contextlib
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coupons import services
from coupons.models import CodeAssignment, Coupon, CouponCode, Redemption
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db

OPS = st.lists(
    st.tuples(st.sampled_from(["assign", "assign_bulk", "redeem", "revert"]), st.integers(0, 5), st.integers(0, 2)),
    max_size=30,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_random_interleavings_keep_codes_unique_and_counters_true(ops):
    coupon = add_codes(BulkCouponFactory(), 8, prefix="H-")
    profiles = ProfileFactory.create_batch(6)
    for op, who, occurrence in ops:
        profile = profiles[who]
        if op == "assign":
            services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence=f"o{occurrence}")
        elif op == "assign_bulk":
            ids = [p.pk for p in profiles[who:]]
            services.code_assign_bulk(coupon=coupon, profile_ids=ids, campaign=None, occurrence=f"o{occurrence}")
        else:
            held = CodeAssignment.objects.filter(coupon=coupon, profile=profile).first()
            if held is None:
                continue
            action = services.coupon_redeem if op == "redeem" else services.coupon_revert
            with contextlib.suppress(services.RedemptionRefused):
                action(profile=profile, code=held.code)
    assignments = CodeAssignment.objects.filter(coupon=coupon)
    per_code = Counter(assignments.values_list("coupon_code_id", flat=True))
    assert not per_code or max(per_code.values()) == 1
    per_key = Counter(assignments.values_list("profile_id", "occurrence"))
    assert not per_key or max(per_key.values()) == 1
    coupon = Coupon.objects.get(pk=coupon.pk)
    assert coupon.codes_assigned == assignments.count() <= coupon.codes_total
    assert CouponCode.objects.filter(coupon=coupon, assigned_at__isnull=False).count() == assignments.count()
    redeemed = sum(a.redeem_count for a in assignments)
    assert coupon.codes_redeemed == redeemed
    assert all(0 <= a.redeem_count <= 1 for a in assignments)
    events = Counter(Redemption.objects.filter(coupon=coupon).values_list("kind", flat=True))
    assert events["redeem"] - events["revert"] == redeemed


def test_demo_data_loads_twice_without_duplicates():
    import io

    from coupons import demo

    demo.load(io.StringIO())
    demo.load(io.StringIO())
    welcome = Coupon.objects.get(code="WELCOME100")
    diwali = Coupon.objects.get(name="DIWALI")
    assert (welcome.status, diwali.status) == ("active", "active")
    assert diwali.codes_total == CouponCode.objects.filter(coupon=diwali).count() == 10_000
