"""Random points: the one definition of what Favor Min / Avg / Max mean (SPEC 6.2).

The builder shows the expectation of these distributions and the distribution engine draws
from them, so both read this module.

Over the integers min..max (n values, index i = value - min):
- Favor Min: weight n - i (falls linearly: the minimum is the likeliest value);
- Favor Avg: weight min(i + 1, n - i) (a triangle peaking at the midpoint);
- Favor Max: weight i + 1 (rises linearly: the maximum is the likeliest value).

A draw costs O(1) whatever the span (issue #18): it takes one uniform integer u in
[0, total weight) and maps it to the index whose cumulative weight first exceeds u, with the
closed-form cumulative sums and exact integer arithmetic (`math.isqrt`), never a list of weights.
Every u maps to exactly one index and index i receives exactly w(i) of them, so the draw has
exactly the distribution of the weights above (tests enumerate every u for small spans).
"""

import math
import random
from decimal import Decimal
from fractions import Fraction

FAVOR_MIN, FAVOR_AVG, FAVOR_MAX = "min", "avg", "max"
FAVORS = (FAVOR_MIN, FAVOR_AVG, FAVOR_MAX)
# The widest random range the builder accepts (draws and expectations are O(1) at any span;
# only `random_points_distribution`, which lists every value, grows with it).
MAX_RANDOM_SPAN = 1_000_000


def _span(low: int, high: int, favor: str) -> int:
    if low > high:
        raise ValueError("min must not exceed max")
    if favor not in FAVORS:
        raise ValueError(f"unknown favor {favor!r}")
    return high - low + 1


def _weights(low: int, high: int, favor: str) -> list[int]:
    n = _span(low, high, favor)
    if favor == FAVOR_MIN:
        return [n - i for i in range(n)]
    if favor == FAVOR_MAX:
        return [i + 1 for i in range(n)]
    return [min(i + 1, n - i) for i in range(n)]


def _total_weight(n: int, favor: str) -> int:
    """The sum of the n weights, in closed form."""
    if favor == FAVOR_AVG:
        # 1, 2, …, ⌈n/2⌉, …, 2, 1: the count of pairs (a, b) with a < ⌈n/2⌉ and b ≤ ⌊n/2⌋.
        return ((n + 1) // 2) * (n // 2 + 1)
    return n * (n + 1) // 2


def _index_for(n: int, favor: str, u: int) -> int:
    """The index i in [0, n) whose cumulative weight interval holds u (0 ≤ u < total weight).

    Favor Max: the weights 1, 2, …, n sum to (k+1)(k+2)/2 up to index k, so i is the smallest k
    with (k+1)(k+2)/2 > u, i.e. ⌊(√(8u+1) − 1)/2⌋ computed exactly with `math.isqrt`.
    Favor Min is its mirror. Favor Avg: u is read as a pair (a, b), a uniform in [0, ⌈n/2⌉) and
    b uniform in [0, ⌊n/2⌋], and i = a + b: index i is hit by exactly min(i + 1, n − i) pairs.
    """
    if favor == FAVOR_AVG:
        a, b = divmod(u, n // 2 + 1)
        return a + b
    k = (math.isqrt(8 * u + 1) - 1) // 2
    return k if favor == FAVOR_MAX else n - 1 - k


def random_points_distribution(low: int, high: int, favor: str) -> dict[int, Fraction]:
    """Value → exact probability of the Random points reward (lists every value: O(span))."""
    weights = _weights(low, high, favor)
    total = _total_weight(len(weights), favor)
    return {low + i: Fraction(w, total) for i, w in enumerate(weights)}


def random_points_mean(low: int, high: int, favor: str) -> Fraction:
    """The exact expectation, in closed form: min + (n−1)/3, (n−1)/2 or 2(n−1)/3 for Min/Avg/Max."""
    n = _span(low, high, favor)
    # Favor Max: Σ i(i+1) / Σ (i+1) = [(n−1)n(n+1)/3] / [n(n+1)/2]; Min mirrors it; Avg is symmetric.
    offset = {FAVOR_MIN: Fraction(n - 1, 3), FAVOR_AVG: Fraction(n - 1, 2), FAVOR_MAX: Fraction(2 * (n - 1), 3)}
    return low + offset[favor]


def random_points_expected(low: int, high: int, favor: str) -> Decimal:
    """The exact expectation of the distribution, as a Decimal (to 3 places)."""
    mean = random_points_mean(low, high, favor)
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(Decimal("0.001"))


def random_points_draw(low: int, high: int, favor: str, *, rng: random.Random | None = None) -> int:
    """One draw from the distribution, in O(1) whatever the span (one `randrange`, one `isqrt`).

    Pass `rng` when drawing more than once: a fresh `random.Random()` seeds itself from the
    operating system (about 14 µs, more than the draw itself)."""
    return random_points_draws(low, high, favor, 1, rng=rng)[0]


def random_points_draws(low: int, high: int, favor: str, count: int, *, rng: random.Random | None = None) -> list[int]:
    """`count` independent draws from the distribution (a run chunk's rewards): O(1) each."""
    n = _span(low, high, favor)
    rng = rng or random.Random()
    total = _total_weight(n, favor)
    return [low + _index_for(n, favor, rng.randrange(total)) for _ in range(count)]
