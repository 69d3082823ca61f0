"""Random points: the one definition of what Favor Min / Avg / Max mean (SPEC 6.2).

The builder shows the expectation of these distributions and the distribution engine draws
from them, so both read `random_points_distribution` (or the same weights).

Over the integers min..max (n values, index i = value - min):
- Favor Min: weight n - i (falls linearly: the minimum is the likeliest value);
- Favor Avg: weight min(i + 1, n - i) (a triangle peaking at the midpoint);
- Favor Max: weight i + 1 (rises linearly: the maximum is the likeliest value).
"""

import random
from decimal import Decimal
from fractions import Fraction

FAVOR_MIN, FAVOR_AVG, FAVOR_MAX = "min", "avg", "max"
# The widest random range the builder accepts: the engine holds one weight per value.
MAX_RANDOM_SPAN = 1_000_000


def _weights(low: int, high: int, favor: str) -> list[int]:
    if low > high:
        raise ValueError("min must not exceed max")
    n = high - low + 1
    if favor == FAVOR_MIN:
        return [n - i for i in range(n)]
    if favor == FAVOR_MAX:
        return [i + 1 for i in range(n)]
    if favor == FAVOR_AVG:
        return [min(i + 1, n - i) for i in range(n)]
    raise ValueError(f"unknown favor {favor!r}")


def random_points_distribution(low: int, high: int, favor: str) -> dict[int, Fraction]:
    """Value → exact probability of the Random points reward."""
    weights = _weights(low, high, favor)
    total = sum(weights)
    return {low + i: Fraction(w, total) for i, w in enumerate(weights)}


def random_points_expected(low: int, high: int, favor: str) -> Decimal:
    """The exact expectation of the distribution, as a Decimal (to 3 places)."""
    weights = _weights(low, high, favor)
    mean = Fraction(sum((low + i) * w for i, w in enumerate(weights)), sum(weights))
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(Decimal("0.001"))


def random_points_draw(low: int, high: int, favor: str, *, rng: random.Random | None = None) -> int:
    """One draw from the distribution (the engine may precompute cumulative weights for speed)."""
    rng = rng or random.Random()
    return rng.choices(range(low, high + 1), weights=_weights(low, high, favor), k=1)[0]
