"""The outcome report's statistics against known answers (promotions.uplift, promotions.holdout)."""

import math
import random

import pytest

from promotions import holdout, uplift


def test_wilson_interval_matches_newcombes_published_example():
    # Newcombe (1998), single proportion, 81/263: Wilson score interval 0.2553 to 0.3662.
    lower, upper = uplift.wilson_interval(81, 263)
    assert (round(lower, 4), round(upper, 4)) == (0.2553, 0.3662)


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), difference of proportions, 56/70 − 48/80: method 10 gives +0.0524 to +0.3339.
    lower, upper = uplift.newcombe_interval(56, 70, 48, 80)
    assert (round(lower, 4), round(upper, 4)) == (0.0524, 0.3339)


def test_wald_interval_matches_the_published_example_and_the_textbook_width():
    # Same example, method 1 (Wald): +0.0575 to +0.3425.
    lower, upper = uplift.wald_interval(56, 70, 48, 80)
    assert (round(lower, 4), round(upper, 4)) == (0.0575, 0.3425)
    # 13 % of 18,000 vs 10 % of 2,000: width = 2 · 1.95996 · sqrt(p1q1/n1 + p0q0/n0).
    lower, upper = uplift.wald_interval(2340, 18000, 200, 2000)
    se = math.sqrt(0.13 * 0.87 / 18000 + 0.10 * 0.90 / 2000)
    assert upper - lower == pytest.approx(2 * 1.959964 * se, rel=1e-6)


def test_normal_quantile_is_the_95_percent_two_sided_one():
    assert uplift.z_for(0.95) == pytest.approx(1.959964, abs=1e-6)


def test_sample_size_matches_the_textbook_two_proportion_formula():
    # 10 % vs 13 %, α = 0.05 two-sided, 80 % power, equal groups: 1,774 per group (Fleiss, no correction).
    assert uplift.holdout_size_needed(0.10, 0.13, 1) == 1774
    # A larger rewarded group needs a smaller holdout than equal groups would, but more in total.
    n0 = uplift.holdout_size_needed(0.10, 0.13, 9)
    assert n0 < 1774 < n0 * 10
    assert uplift.holdout_size_needed(0.10, 0.10, 1) is None


def _synthetic(rng, n, holdout_share, p_holdout, p_rewarded):
    """A synthetic audience: n profiles, a holdout share, each converting with its group's rate."""
    n0 = round(n * holdout_share)
    n1 = n - n0
    x0 = sum(rng.random() < p_holdout for _ in range(n0))
    x1 = sum(rng.random() < p_rewarded for _ in range(n1))
    return x1, n1, x0, n0


def test_known_uplift_of_3_points_over_20000_profiles_lies_in_the_interval_and_is_reported_as_raised():
    x1, n1, x0, n0 = _synthetic(random.Random(19), 20_000, 0.5, 0.10, 0.13)
    result = uplift.uplift(converted_rewarded=x1, rewarded=n1, converted_holdout=x0, holdout=n0)
    assert result.lower < 0.03 < result.upper
    assert result.significant and result.lower > 0
    assert result.verdict.endswith("the reward raised conversion.")
    assert result.verdict.startswith(f"{uplift.points(result.absolute)} points, 95 % CI ")


def test_interval_covers_the_true_uplift_about_95_percent_of_the_time():
    rng = random.Random(7)
    trials, covered = 300, 0
    for _ in range(trials):
        x1, n1, x0, n0 = _synthetic(rng, 4_000, 0.1, 0.10, 0.13)
        lower, upper = uplift.newcombe_interval(x1, n1, x0, n0)
        covered += lower < 0.03 < upper
    assert 0.91 <= covered / trials <= 0.99


def test_zero_effect_audience_is_not_distinguishable_and_says_how_many_more_profiles():
    result = uplift.uplift(converted_rewarded=1820, rewarded=18_000, converted_holdout=200, holdout=2_000)
    assert not result.significant
    assert result.lower < 0 < result.upper
    assert "not distinguishable from no effect" in result.verdict
    # 10.11 % vs 10.00 % at a 9:1 split: the textbook size, minus the 20,000 already there.
    n0 = uplift.holdout_size_needed(0.10, 1820 / 18_000, 9)
    assert result.more_profiles_needed == math.ceil(n0 * 10) - 20_000
    assert f"{result.more_profiles_needed:,} more profiles needed for this effect size" in result.verdict


def test_exactly_equal_rates_say_no_effect_without_a_sample_size():
    result = uplift.uplift(converted_rewarded=900, rewarded=9_000, converted_holdout=100, holdout=1_000)
    assert result.absolute == 0 and result.more_profiles_needed is None
    assert result.verdict.endswith("not distinguishable from no effect.")


def test_no_holdout_profiles_gives_no_uplift():
    assert uplift.uplift(converted_rewarded=5, rewarded=50, converted_holdout=0, holdout=0) is None


@pytest.mark.parametrize("percent", [1, 10, 50])
def test_holdout_split_is_within_tolerance_of_its_percentage(percent):
    ids = range(1, 20_001)
    held = holdout.held_out_ids(campaign_id=42, profile_ids=ids, percent=percent)
    share = len(held) / 20_000
    tolerance = 4 * math.sqrt(percent / 100 * (1 - percent / 100) / 20_000)  # 4 standard errors
    assert abs(share - percent / 100) < tolerance


def test_holdout_is_stable_and_differs_between_campaigns():
    first = holdout.held_out_ids(campaign_id=1, profile_ids=range(1, 2001), percent=20)
    assert first == holdout.held_out_ids(campaign_id=1, profile_ids=range(1, 2001), percent=20)
    assert first != holdout.held_out_ids(campaign_id=2, profile_ids=range(1, 2001), percent=20)
    # A larger holdout contains the smaller one (buckets below a threshold).
    assert first <= holdout.held_out_ids(campaign_id=1, profile_ids=range(1, 2001), percent=30)
    assert holdout.held_out_ids(campaign_id=1, profile_ids=range(1, 2001), percent=None) == set()
