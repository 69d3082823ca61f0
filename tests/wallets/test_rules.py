"""Rounding and default expiry rules (SPEC 3.1)."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest

from accounts.account import account_get
from tests.wallets.factories import WalletFactory
from wallets import services
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("places", "mode", "amount", "expected"),
    [
        (0, "down", "12.999", "12"),
        (0, "up", "12.001", "13"),
        (0, "up", "12", "12"),
        (1, "down", "12.78", "12.7"),
        (1, "up", "12.71", "12.8"),
        (1, "up", "12.7", "12.7"),
        (2, "down", "12.349", "12.34"),
        (2, "up", "12.341", "12.35"),
        (3, "down", "12.3459", "12.345"),
        (3, "up", "12.3451", "12.346"),
        (3, "up", "12.345", "12.345"),
        (0, "down", "0.9", "0"),
    ],
)
def test_wallet_round_rounds_up_and_down_at_each_precision(places, mode, amount, expected):
    wallet = WalletFactory(rounding_places=places, rounding_mode=mode)
    assert services.wallet_round(wallet=wallet, amount=Decimal(amount)) == Decimal(expected)


def test_wallet_credit_rounds_by_the_wallet_rule_and_refuses_what_rounds_to_zero():
    from django.core.exceptions import ValidationError

    from tests.segments.factories import ProfileFactory

    wallet = WalletFactory(rounding_places=1, rounding_mode="up")
    profile = ProfileFactory()
    lot = services.wallet_credit(wallet=wallet, profile=profile, points=Decimal("1.01"), source="API")
    assert lot.amount == Decimal("1.1")
    down = WalletFactory(rounding_places=0, rounding_mode="down")
    with pytest.raises(ValidationError) as exc:
        services.wallet_credit(wallet=down, profile=profile, points=Decimal("0.5"), source="API")
    assert exc.value.message_dict == {"points": [services.ERR_POINTS_NOT_POSITIVE]}


def test_lot_default_expiry_never():
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.NEVER)
    assert services.lot_default_expiry(wallet=wallet, issued_at=datetime.datetime(2026, 5, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    ("unit", "value", "issued", "expected_local"),
    [
        ("days", 30, datetime.datetime(2026, 1, 15, 10, 0), datetime.datetime(2026, 2, 14, 10, 0)),
        ("months", 1, datetime.datetime(2026, 1, 31, 10, 0), datetime.datetime(2026, 2, 28, 10, 0)),
        ("years", 1, datetime.datetime(2028, 2, 29, 9, 0), datetime.datetime(2029, 2, 28, 9, 0)),
    ],
)
def test_lot_default_expiry_after_a_period_keeps_the_local_time(unit, value, issued, expected_local):
    tz = zoneinfo.ZoneInfo("Asia/Kolkata")
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.AFTER, expiry_value=value, expiry_unit=unit)
    result = services.lot_default_expiry(wallet=wallet, issued_at=issued.replace(tzinfo=tz))
    assert result == expected_local.replace(tzinfo=tz)


def test_lot_default_expiry_after_days_is_dst_safe_in_the_account_timezone():
    account = account_get()
    account.timezone = "Europe/Berlin"
    account.save()
    tz = zoneinfo.ZoneInfo("Europe/Berlin")
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.AFTER, expiry_value=1, expiry_unit="days")
    # The night of 28-29 March 2026 is 23 hours long in Berlin: the expiry stays at 12:00 local.
    issued = datetime.datetime(2026, 3, 28, 12, 0, tzinfo=tz)
    expiry = services.lot_default_expiry(wallet=wallet, issued_at=issued)
    assert expiry.astimezone(tz) == datetime.datetime(2026, 3, 29, 12, 0, tzinfo=tz)
    assert expiry - issued == datetime.timedelta(hours=23)


@pytest.mark.parametrize(
    ("issued_utc", "years", "expected_utc"),
    [
        # 31 Dec 2026 20:00 UTC is already 1 Jan 2027 01:30 in Kolkata: the year of issue is 2027.
        (datetime.datetime(2026, 12, 31, 20, 0, tzinfo=UTC), 0, datetime.datetime(2027, 12, 31, 18, 30, tzinfo=UTC)),
        # 31 Dec 2026 18:00 UTC is 23:30 on 31 Dec in Kolkata: still 2026.
        (datetime.datetime(2026, 12, 31, 18, 0, tzinfo=UTC), 0, datetime.datetime(2026, 12, 31, 18, 30, tzinfo=UTC)),
        (datetime.datetime(2026, 12, 31, 18, 0, tzinfo=UTC), 1, datetime.datetime(2027, 12, 31, 18, 30, tzinfo=UTC)),
        (datetime.datetime(2026, 6, 1, tzinfo=UTC), 2, datetime.datetime(2028, 12, 31, 18, 30, tzinfo=UTC)),
    ],
)
def test_calendar_year_expiry_crosses_year_ends_in_the_account_timezone(issued_utc, years, expected_utc):
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.CALENDAR_YEAR, expiry_value=years)
    assert services.lot_default_expiry(wallet=wallet, issued_at=issued_utc) == expected_utc


def test_calendar_year_expiry_follows_an_account_timezone_change():
    account = account_get()
    account.timezone = "America/New_York"
    account.save()
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.CALENDAR_YEAR, expiry_value=0)
    # 1 Jan 2027 03:00 UTC is still 31 Dec 2026 in New York: expires at New York's midnight.
    issued = datetime.datetime(2027, 1, 1, 3, 0, tzinfo=UTC)
    assert services.lot_default_expiry(wallet=wallet, issued_at=issued) == datetime.datetime(
        2027, 1, 1, 5, 0, tzinfo=UTC
    )


def test_wallet_credit_uses_the_wallet_default_expiry_from_activation():
    from tests.segments.factories import ProfileFactory

    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.AFTER, expiry_value=10, expiry_unit="days")
    profile = ProfileFactory()
    lot = services.wallet_credit(wallet=wallet, profile=profile, points=5, source="API")
    assert lot.expires_at == services.lot_default_expiry(wallet=wallet, issued_at=lot.issued_at)
    own = services.wallet_credit(
        wallet=wallet,
        profile=profile,
        points=5,
        source="API",
        expires_at=lot.issued_at + datetime.timedelta(days=1),
    )
    assert own.expires_at == lot.issued_at + datetime.timedelta(days=1)
