"""The statistics of the outcome report (SPEC 11): uplift of a conversion rate over a holdout.

Pure functions over counts, no database. Standard formulas with the standard library's normal
quantile (`statistics.NormalDist().inv_cdf`); scipy would add 100 MB for two quantiles.

- The difference of two proportions gets the **Newcombe hybrid score interval** (Newcombe
  1998, "Interval estimation for the difference between independent proportions", method 10):
  each group's Wilson score interval, combined. Chosen over the Wald interval (p1 − p0 ± z·SE)
  because a holdout is small (1–50 % of the audience) and conversion rates are often a few
  percent: there the Wald interval's coverage falls well below 95 % and it can even cross 0 or
  1, while Newcombe's stays close to nominal and agrees with Wald on large samples. Wald is
  kept (`wald_interval`) for the tests that check the textbook width and for comparison.
- The relative uplift divides the difference and its interval by the holdout's rate
  (an approximation that treats the holdout rate as known; stated on the page as "relative").
- "N more profiles needed": the two-proportion sample size at two-sided α = 0.05 and 80 %
  power (Fleiss, "Statistical Methods for Rates and Proportions", without continuity
  correction), generalised to the campaign's allocation ratio r = rewarded / holdout.
"""

import math
from dataclasses import dataclass
from statistics import NormalDist

CONFIDENCE = 0.95
POWER = 0.80


def z_for(confidence: float = CONFIDENCE) -> float:
    """The two-sided standard normal quantile (1.959964… for 95 %)."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of one proportion."""
    if n <= 0:
        return 0.0, 1.0
    z = z_for(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def wald_interval(x1: int, n1: int, x0: int, n0: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """p1 − p0 ± z·sqrt(p1(1−p1)/n1 + p0(1−p0)/n0): the textbook Wald interval."""
    p1, p0 = x1 / n1, x0 / n0
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    z = z_for(confidence)
    return p1 - p0 - z * se, p1 - p0 + z * se


def newcombe_interval(x1: int, n1: int, x0: int, n0: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for p1 − p0."""
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, confidence)
    l0, u0 = wilson_interval(x0, n0, confidence)
    d = p1 - p0
    lower = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return lower, upper


def holdout_size_needed(p0: float, p1: float, ratio: float, *, confidence=CONFIDENCE, power=POWER) -> int | None:
    """Holdout-group size n0 (rewarded group r·n0) to detect p1 vs p0 at the given α and power.

    n0 = (z_a·sqrt(p̄q̄(1 + 1/r)) + z_b·sqrt(p0q0 + p1q1/r))² / (p1 − p0)², p̄ the pooled rate
    (r·p1 + p0) / (r + 1). With r = 1 this is the familiar per-group formula (10 % vs 13 %: 1,774).
    """
    if p1 == p0 or ratio <= 0:
        return None
    z_a = z_for(confidence)
    z_b = NormalDist().inv_cdf(power)
    p_bar = (ratio * p1 + p0) / (ratio + 1)
    a = z_a * math.sqrt(p_bar * (1 - p_bar) * (1 + 1 / ratio))
    b = z_b * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1) / ratio)
    return math.ceil((a + b) ** 2 / (p1 - p0) ** 2)


@dataclass
class Uplift:
    rate_rewarded: float
    rate_holdout: float
    absolute: float  # p1 − p0, a proportion (0.031 = +3.1 points)
    lower: float
    upper: float
    relative: float | None  # (p1 − p0) / p0
    relative_lower: float | None
    relative_upper: float | None
    significant: bool
    more_profiles_needed: int | None  # total (both groups) still to qualify, at the current split
    verdict: str


VERDICT_UP = "{abs}, 95 % CI {lo} to {hi}: the reward raised conversion."
VERDICT_DOWN = "{abs}, 95 % CI {lo} to {hi}: conversion was lower with the reward."
VERDICT_MORE = (
    "{abs}, 95 % CI {lo} to {hi}: not distinguishable from no effect yet: "
    "{more} more profiles needed for this effect size."
)
VERDICT_NONE = "{abs}, 95 % CI {lo} to {hi}: not distinguishable from no effect."
VERDICT_EMPTY = "Not enough data yet: both groups need qualified profiles."


def points(value: float) -> str:
    """A difference of proportions in percentage points, signed: "+3.1 points"."""
    return f"{value * 100:+.1f}"


def uplift(*, converted_rewarded: int, rewarded: int, converted_holdout: int, holdout: int) -> Uplift | None:
    """The uplift of the rewarded group over the holdout, its interval and the verdict; None without both groups."""
    if rewarded <= 0 or holdout <= 0:
        return None
    p1, p0 = converted_rewarded / rewarded, converted_holdout / holdout
    lower, upper = newcombe_interval(converted_rewarded, rewarded, converted_holdout, holdout)
    d = p1 - p0
    relative = d / p0 if p0 > 0 else None
    significant = lower > 0 or upper < 0
    more = None
    if not significant:
        n0 = holdout_size_needed(p0, p1, rewarded / holdout)
        if n0 is not None:
            needed_total = math.ceil(n0 * (1 + rewarded / holdout))
            more = max(0, needed_total - (rewarded + holdout))
    words = {"abs": f"{points(d)} points", "lo": points(lower), "hi": points(upper), "more": f"{more or 0:,}"}
    if lower > 0:
        verdict = VERDICT_UP.format(**words)
    elif upper < 0:
        verdict = VERDICT_DOWN.format(**words)
    elif more:
        verdict = VERDICT_MORE.format(**words)
    else:
        verdict = VERDICT_NONE.format(**words)
    return Uplift(
        rate_rewarded=p1,
        rate_holdout=p0,
        absolute=d,
        lower=lower,
        upper=upper,
        relative=relative,
        relative_lower=lower / p0 if p0 > 0 else None,
        relative_upper=upper / p0 if p0 > 0 else None,
        significant=significant,
        more_profiles_needed=more,
        verdict=verdict,
    )
