from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from promotions.points import random_points_distribution, random_points_expected


@given(low=st.integers(1, 200), span=st.integers(0, 200), favor=st.sampled_from(["min", "avg", "max"]))
def test_random_points_distribution_is_a_distribution_on_min_max(low, span, favor):
    dist = random_points_distribution(low, low + span, favor)
    assert sum(dist.values()) == 1
    assert min(dist) == low and max(dist) == low + span and all(p > 0 for p in dist.values())


@given(low=st.integers(1, 200), span=st.integers(2, 200))
def test_favor_min_below_avg_near_midpoint_below_max(low, span):
    high = low + span
    mid = Decimal(low + high) / 2
    e_min, e_avg, e_max = (random_points_expected(low, high, f) for f in ("min", "avg", "max"))
    assert e_min < mid < e_max
    assert abs(e_avg - mid) < Decimal("0.001")
