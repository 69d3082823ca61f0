import random
import tracemalloc
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promotions import points
from promotions.points import random_points_distribution, random_points_draw, random_points_expected


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


# --- The O(1) sampler (issue #18) draws exactly the distribution of the weights -------------

FAVORS = ("min", "avg", "max")


def _old_weights(n, favor):
    """The weights as the O(span) sampler built them for `rng.choices` before issue #18."""
    if favor == "min":
        return [n - i for i in range(n)]
    if favor == "max":
        return [i + 1 for i in range(n)]
    return [min(i + 1, n - i) for i in range(n)]


@pytest.mark.parametrize("favor", FAVORS)
@pytest.mark.parametrize("n", [*range(1, 41), 99, 100, 257])
def test_each_uniform_integer_maps_to_one_value_and_each_value_gets_exactly_its_weight(n, favor):
    # The draw is low + _index_for(n, favor, u) with u uniform in [0, total): enumerating every u
    # proves the probability of each value equals the old weight / the old total, exactly.
    total = points._total_weight(n, favor)
    assert total == sum(_old_weights(n, favor))
    hits = Counter(points._index_for(n, favor, u) for u in range(total))
    assert [hits[i] for i in range(n)] == _old_weights(n, favor)
    assert sum(hits.values()) == total


@pytest.mark.parametrize("n", [10**6, 10**6 + 1, 2**53 + 7, 10**30])
def test_the_favor_max_boundaries_are_exact_for_large_spans(n):
    # Favor Max maps u through its cumulative sums (k+1)(k+2)/2: at each probed value the first
    # and last u of its interval give that value (isqrt keeps it exact where floats would round
    # past 2**53). Favor Min mirrors it (below); Favor Avg is integer divmod, exact by construction.
    for i in (0, 1, 2, n // 3, n // 2, n - 2, n - 1):
        start = i * (i + 1) // 2
        assert points._index_for(n, "max", start) == i
        assert points._index_for(n, "max", start + i) == i
    assert points._index_for(n, "max", points._total_weight(n, "max") - 1) == n - 1


@given(n=st.integers(1, 10**15), data=st.data())
def test_favor_min_is_the_mirror_of_favor_max(n, data):
    u = data.draw(st.integers(0, points._total_weight(n, "max") - 1))
    assert points._index_for(n, "min", u) == n - 1 - points._index_for(n, "max", u)


@pytest.mark.parametrize("favor", FAVORS)
def test_draw_frequencies_match_the_weights_chi_square(favor):
    # 60,000 seeded draws over 1..12: the chi-square statistic (11 degrees of freedom) stays well
    # under 31.26, the 0.1% critical value. Seeded, so it is deterministic.
    rng = random.Random(20261202)
    draws = Counter(random_points_draw(1, 12, favor, rng=rng) for _ in range(60_000))
    weights = _old_weights(12, favor)
    expected = [60_000 * w / sum(weights) for w in weights]
    chi2 = sum((draws[i + 1] - e) ** 2 / e for i, e in enumerate(expected))
    assert chi2 < 31.26


@given(
    low=st.integers(-(10**12), 10**12),
    span=st.integers(0, 10**12),
    favor=st.sampled_from(FAVORS),
    seed=st.integers(0, 2**32),
)
def test_every_draw_stays_within_min_max(low, span, favor, seed):
    value = random_points_draw(low, low + span, favor, rng=random.Random(seed))
    assert low <= value <= low + span and isinstance(value, int)


@given(u=st.integers(0, 10**18), favor=st.sampled_from(FAVORS), n=st.integers(1, 10**9))
def test_every_uniform_integer_maps_inside_the_range(u, favor, n):
    assert 0 <= points._index_for(n, favor, u % points._total_weight(n, favor)) < n


def test_a_draw_does_not_build_or_iterate_the_span(monkeypatch):
    # Deterministic stand-in for "100,000 draws over 1..1,000,000 take well under a second":
    # the draw never touches the weight list, and its memory does not grow with the span (the old
    # sampler allocated two lists of a million entries per draw, tens of megabytes).
    monkeypatch.setattr(points, "_weights", lambda *a: pytest.fail("a draw built the weight list"))
    rng = random.Random(1)
    tracemalloc.start()
    try:
        for favor in FAVORS:
            for _ in range(1_000):
                random_points_draw(1, 1_000_000, favor, rng=rng)
            random_points_draw(1, 10**30, favor, rng=rng)  # would not fit in memory as a list
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@given(low=st.integers(-50, 200), span=st.integers(0, 120), favor=st.sampled_from(FAVORS))
def test_the_closed_form_mean_equals_the_weighted_mean(low, span, favor):
    weights = _old_weights(span + 1, favor)
    mean = Fraction(sum((low + i) * w for i, w in enumerate(weights)), sum(weights))
    assert points.random_points_mean(low, low + span, favor) == mean


# --- A run chunk's draws (issue #18): one generator, the cap and rounding worked out once ----


@given(
    low=st.integers(-3, 50),
    span=st.integers(0, 100_000),
    favor=st.sampled_from(FAVORS),
    cap=st.one_of(st.none(), st.decimals(min_value=-2, max_value=60_000, places=3)),
    places=st.integers(0, 3),
    up=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_a_chunks_random_points_are_exactly_what_points_for_gives_draw_by_draw(low, span, favor, cap, places, up, seed):
    from promotions.engine.rewards import points_for, random_points_for_many
    from promotions.models import Campaign
    from wallets.models import Wallet

    wallet = Wallet(
        name="w", rounding_places=places, rounding_mode=Wallet.RoundingMode.UP if up else Wallet.RoundingMode.DOWN
    )
    campaign = Campaign(
        points_type=Campaign.PointsType.RANDOM,
        random_min=low,
        random_max=low + span,
        random_favor=favor,
        max_points_per_reward=cap,
    )
    one_by_one = random.Random(seed)
    expected = [points_for(campaign, wallet=wallet, rng=one_by_one) for _ in range(40)]
    assert random_points_for_many(campaign, wallet=wallet, count=40, rng=random.Random(seed)) == expected


def test_random_points_of_a_run_chunk_do_not_seed_a_generator_per_reward(monkeypatch):
    """A fresh random.Random() seeds itself from the operating system: once per chunk, not per reward."""
    from promotions.engine.rewards import random_points_for_many
    from promotions.models import Campaign
    from wallets.models import Wallet

    seeded = []
    real_seed = random.Random.seed
    monkeypatch.setattr(random.Random, "seed", lambda self, *a, **k: (seeded.append(1), real_seed(self, *a, **k)))
    campaign = Campaign(points_type=Campaign.PointsType.RANDOM, random_min=1, random_max=100_000, random_favor="avg")
    drawn = random_points_for_many(campaign, wallet=Wallet(name="w"), count=5000)
    assert len(drawn) == 5000 and all(1 <= d <= 100_000 for d in drawn)
    assert len(seeded) == 1
