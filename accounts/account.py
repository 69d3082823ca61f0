"""The account timezone: reading it, labelling it, and activating it for a request."""

import datetime
import zoneinfo

from django.utils import timezone

from accounts.models import Account


def account_get() -> Account:
    account, _ = Account.objects.get_or_create(pk=Account.SINGLETON_PK)
    return account


def account_tzinfo() -> zoneinfo.ZoneInfo:
    tz_name = Account.objects.filter(pk=Account.SINGLETON_PK).values_list("timezone", flat=True).first()
    return zoneinfo.ZoneInfo(tz_name or Account._meta.get_field("timezone").default)


def timezone_label(tz: zoneinfo.ZoneInfo, at: datetime.datetime | None = None) -> str:
    """`(GMT+05:30) Asia/Kolkata`: the offset in force at `at` (default now) and the zone name."""
    at = at or timezone.now()
    offset = at.astimezone(tz).utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"(GMT{sign}{hours:02d}:{mins:02d}) {tz.key}"


class AccountTimezoneMiddleware:
    """Activates the account timezone, so forms parse and templates render in it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz = account_tzinfo()
        request.account_tz = tz
        timezone.activate(tz)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
