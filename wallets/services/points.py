"""The rules every movement of points applies: rounding, a lot's default expiry and lifecycle, the messages."""

import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError

from accounts.account import account_tzinfo
from wallets.models import LotDue, Wallet

ERR_POINTS_NOT_POSITIVE = "Points must be a positive number."
ERR_INSUFFICIENT_BALANCE = "Debit points exceed the active points in the user's wallet."
ERR_WALLET_INACTIVE = "This wallet is inactive: it cannot receive points."
ERR_EXPIRY_BEFORE_ACTIVATION = "The expiry must be after the activation."
ERR_DESCRIPTION_REQUIRED = "Enter a description."
ERR_KIND = "Choose credit or debit."
ERR_EXPIRY_RULE_FROZEN = "The expiry rule cannot change after the wallet is created."


class NeverExpires:
    """`expires_at=NEVER_EXPIRES`: the credit never expires, whatever the wallet's default
    (a campaign's custom lifecycle with expiry "Never"). `expires_at=None` means the default."""

    def __repr__(self) -> str:
        return "NEVER_EXPIRES"


NEVER_EXPIRES = NeverExpires()


def wallet_round(*, wallet: Wallet, amount: Decimal) -> Decimal:
    """Round `amount` to the wallet's decimal places, up (ceiling) or down (floor)."""
    rounding = ROUND_CEILING if wallet.rounding_mode == Wallet.RoundingMode.UP else ROUND_FLOOR
    exponent = Decimal(1).scaleb(-int(wallet.rounding_places))
    try:
        return Decimal(amount).quantize(exponent, rounding=rounding)
    except InvalidOperation as exc:
        raise ValidationError({"points": ERR_POINTS_NOT_POSITIVE}) from exc


def lot_default_expiry(*, wallet: Wallet, issued_at: datetime.datetime) -> datetime.datetime | None:
    """The wallet's default expiry for points issued at `issued_at`, in the account timezone.

    After N days / months / years keeps the local wall-clock time (DST-safe); the end of the
    Nth calendar year is the first instant of 1 January of year(issue) + N + 1, so points
    issued on 31 December are still spendable until local midnight.
    """
    if wallet.expiry_kind == Wallet.ExpiryKind.NEVER:
        return None
    tz = account_tzinfo()
    local = issued_at.astimezone(tz)
    value = int(wallet.expiry_value or 0)
    if wallet.expiry_kind == Wallet.ExpiryKind.CALENDAR_YEAR:
        end = datetime.datetime(local.year + value + 1, 1, 1, tzinfo=tz)
        return end.astimezone(datetime.UTC)
    delta = {
        Wallet.ExpiryUnit.DAYS: relativedelta(days=value),
        Wallet.ExpiryUnit.MONTHS: relativedelta(months=value),
        Wallet.ExpiryUnit.YEARS: relativedelta(years=value),
    }[wallet.expiry_unit]
    naive = local.replace(tzinfo=None) + delta
    return naive.replace(tzinfo=tz).astimezone(datetime.UTC)


def positive_points(wallet: Wallet, points) -> Decimal:
    """`points` rounded to the wallet's decimals; ValidationError unless the result is positive."""
    if isinstance(points, float):
        points = Decimal(str(points))
    rounded = wallet_round(wallet=wallet, amount=points)
    if rounded <= 0:
        raise ValidationError({"points": ERR_POINTS_NOT_POSITIVE})
    return rounded


def lot_lifecycle(wallet, now, activates_at, expires_at):
    """A new lot's (activates_at, expires_at): now and the wallet's default expiry unless given."""
    activates_at = activates_at or now
    if expires_at is NEVER_EXPIRES:
        return activates_at, None
    if expires_at is None:
        expires_at = lot_default_expiry(wallet=wallet, issued_at=max(now, activates_at))
    if expires_at is not None and expires_at <= activates_at:
        raise ValidationError({"expires_at": ERR_EXPIRY_BEFORE_ACTIVATION})
    return activates_at, expires_at


def lot_due_steps(lot_id: int, activates_at, expires_at) -> list[LotDue]:
    """The one lifecycle step the jobs will owe a new lot next: its activation if credited with
    a delay (`activates_at` given), else its expiry if it has one. The activation sweep writes
    the expire step when it activates the lot (`_ACTIVATE_SQL` in lifecycle.py)."""
    if activates_at is not None:
        return [LotDue(step=LotDue.Step.ACTIVATE, due_at=activates_at, lot_id=lot_id)]
    if expires_at is not None:
        return [LotDue(step=LotDue.Step.EXPIRE, due_at=expires_at, lot_id=lot_id)]
    return []
