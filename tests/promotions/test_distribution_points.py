"""Points computation (SPEC 6.2) and lot lifecycle."""

import datetime
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from promotions.engine.rewards import points_for, points_lifecycle
from promotions.models import Campaign
from wallets.models import Wallet

C = Campaign


def wallet(places=0, mode=Wallet.RoundingMode.DOWN):
    return Wallet(name="W", points_name="Coins", rounding_places=places, rounding_mode=mode)


def campaign(**values):
    return Campaign(name="c", reward_type=C.RewardType.POINTS, **values)


def test_flat_points_are_the_value_rounded_by_the_wallet():
    assert points_for(campaign(points_type="flat", flat_points=Decimal("100")), wallet=wallet()) == 100
    assert points_for(campaign(points_type="flat", flat_points=Decimal("10.9")), wallet=wallet()) == 10
    up = wallet(places=1, mode=Wallet.RoundingMode.UP)
    assert points_for(campaign(points_type="flat", flat_points=Decimal("10.91")), wallet=up) == Decimal("11.0")


def test_flat_points_rounding_to_zero_are_invalid():
    assert points_for(campaign(points_type="flat", flat_points=Decimal("0.4")), wallet=wallet()) is None
    assert points_for(campaign(points_type="flat", flat_points=None), wallet=wallet()) is None


def test_max_points_per_reward_caps_before_rounding():
    c = campaign(points_type="flat", flat_points=Decimal("500"), max_points_per_reward=Decimal("120.5"))
    assert points_for(c, wallet=wallet()) == 120
    assert points_for(c, wallet=wallet(places=1)) == Decimal("120.5")


def test_percentage_is_value_times_x_over_100():
    c = campaign(points_type="percentage", percentage=Decimal("5"))
    assert points_for(c, wallet=wallet(), value=2000) == 100
    assert points_for(c, wallet=wallet(places=2), value="33.33") == Decimal("1.66")


@pytest.mark.parametrize("value", [None, "abc", "", True, 0, -50, "NaN", "Infinity"])
def test_missing_non_numeric_or_non_positive_values_are_invalid(value):
    c = campaign(points_type="percentage", percentage=Decimal("5"))
    assert points_for(c, wallet=wallet(), value=value) is None


def test_proportional_is_floor_of_value_over_x_times_y():
    c = campaign(points_type="proportional", proportional_units=Decimal("100"), proportional_points=Decimal("7"))
    assert points_for(c, wallet=wallet(), value=999) == 63
    assert points_for(c, wallet=wallet(), value=1000) == 70
    assert points_for(c, wallet=wallet(), value=99) is None  # floor(0.99) × 7 = 0


def test_proportional_capped():
    c = campaign(
        points_type="proportional",
        proportional_units=Decimal("10"),
        proportional_points=Decimal("1"),
        max_points_per_reward=Decimal("50"),
    )
    assert points_for(c, wallet=wallet(), value=100_000) == 50


@pytest.mark.parametrize("favor", ["min", "avg", "max"])
def test_random_draws_integers_within_bounds(favor):
    c = campaign(points_type="random", random_min=10, random_max=20, random_favor=favor)
    rng = random.Random(7)
    draws = [points_for(c, wallet=wallet(), rng=rng) for _ in range(2000)]
    assert all(10 <= d <= 20 and d == int(d) for d in draws)
    assert {min(draws), max(draws)} == {10, 20}


def test_random_favors_shift_the_mean():
    rng = random.Random(42)

    def mean(favor):
        c = campaign(points_type="random", random_min=0 + 1, random_max=101, random_favor=favor)
        return sum(points_for(c, wallet=wallet(), rng=rng) for _ in range(10_000)) / 10_000

    assert mean("min") < 51 < mean("max")
    assert abs(mean("avg") - 51) < Decimal("2.55")


def test_random_single_value_range():
    c = campaign(points_type="random", random_min=5, random_max=5, random_favor="min")
    assert points_for(c, wallet=wallet()) == 5


def test_lifecycle_defaults_to_the_wallet():
    now = timezone.now()
    assert points_lifecycle(campaign(custom_lifecycle=False), now=now) == (None, None)


def test_custom_lifecycle_delay_and_expiry():
    now = timezone.now()
    c = campaign(
        custom_lifecycle=True,
        activation=C.Activation.CUSTOM,
        activation_value=2,
        activation_unit=C.DelayUnit.HOURS,
        expiry=C.Expiry.CUSTOM,
        expiry_days=30,
    )
    act, exp = points_lifecycle(c, now=now)
    assert act == now + datetime.timedelta(hours=2)
    assert exp == act + datetime.timedelta(days=30)
    on_date = now + datetime.timedelta(days=90)
    c = campaign(custom_lifecycle=True, expiry=C.Expiry.ON_DATE, expiry_at=on_date)
    assert points_lifecycle(c, now=now) == (now, on_date)


def test_custom_lifecycle_that_never_expires_overrides_the_wallet_default():
    from wallets.services import NEVER_EXPIRES

    now = timezone.now()
    c = campaign(custom_lifecycle=True, expiry=C.Expiry.NEVER)
    assert points_lifecycle(c, now=now) == (now, NEVER_EXPIRES)
