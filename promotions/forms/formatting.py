"""How saved campaign values read in the builder's inputs, and the POST shapes the forms take."""

import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from accounts import dates
from promotions.models import Campaign

C = Campaign
# Typed and shown as the app shows times ("4 Dec 2026 10:00", account timezone): accounts/dates.py.
DATETIME_FORMAT = dates.DISPLAY_DATETIME_FORMAT


def fmt_decimal(value) -> str:
    return "" if value is None else f"{Decimal(value).normalize():f}"


def fmt_int(value) -> str:
    return "" if value is None else str(value)


def fmt_datetime(value) -> str:
    return "" if value is None else timezone.localtime(value).strftime(DATETIME_FORMAT)


def as_form_data(data: dict) -> MultiValueDict:
    """A dict of str / list[str] as a POST would carry it."""
    return MultiValueDict({k: (v if isinstance(v, list) else [v]) for k, v in data.items() if v not in (None, False)})


def querydict_as_initial(data, multi=("weekdays",)) -> dict:
    out = {}
    for key in data:
        values = data.getlist(key)
        out[key] = values if key in multi else (values[-1] if values else "")
    return out


# A wallet's "after N months / years" as the campaign's "days after activation".
_UNIT_DAYS = {"days": 1, "months": 30, "years": 365}


def wallet_expiry_defaults(wallet) -> dict:
    """The campaign expiry fields that repeat a wallet's expiry rule (the custom lifecycle's start)."""
    if wallet is None:
        return {"expiry": C.Expiry.NEVER}
    if wallet.expiry_kind == "after" and wallet.expiry_value:
        days = wallet.expiry_value * _UNIT_DAYS.get(wallet.expiry_unit or "days", 1)
        return {"expiry": C.Expiry.CUSTOM, "expiry_days": str(days)}
    if wallet.expiry_kind == "calendar_year":
        year = timezone.localdate().year + (wallet.expiry_value or 0)
        end = datetime.datetime(year, 12, 31, 23, 59, tzinfo=timezone.get_current_timezone())
        return {"expiry": C.Expiry.ON_DATE, "expiry_at": fmt_datetime(end)}
    return {"expiry": C.Expiry.NEVER}
