"""GET /api/1/promo/vouchers?identity= — the profile's partner vouchers (SPEC 7)."""

import datetime

from django.http import JsonResponse

from config import input_checks
from config.account import account_tzinfo
from config.api import api_error, api_view
from segments.models import Profile
from vouchers import selectors

ERR_IDENTITY_REQUIRED = "identity is required."
ERR_UNKNOWN_IDENTITY = "No profile with identity “{identity}”."
MAX_RECORDS = 500


def list_expiry_timestamp(expires_on: datetime.date | None, tz) -> int | None:
    """The first instant the list no longer gives codes: midnight after its last day, account time."""
    if expires_on is None:
        return None
    end = datetime.datetime.combine(expires_on + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    return int(end.timestamp())


@api_view("GET")
def profile_vouchers(request):
    identity = request.GET.get("identity", "").strip()
    if not identity:
        return api_error(400, ERR_IDENTITY_REQUIRED)
    problem = input_checks.field_problem(identity, path="identity")
    if problem is not None:
        return api_error(400, problem[1], field=problem[0])
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        return api_error(404, ERR_UNKNOWN_IDENTITY.format(identity=identity[:256]))
    tz = account_tzinfo()
    records = []
    for assignment in selectors.profile_vouchers(profile=profile)[:MAX_RECORDS]:
        voucher_list = assignment.voucher_list
        records.append(
            {
                "voucherId": assignment.pk,
                "voucherCode": assignment.code.code,
                "voucherListId": voucher_list.pk,
                "listTag": voucher_list.tag,
                "listName": voucher_list.name,
                "listDescription": voucher_list.description,
                "listExpiry": list_expiry_timestamp(voucher_list.expires_on, tz),
                "listExpiryDate": voucher_list.expires_on.isoformat() if voucher_list.expires_on else None,
                "partner": voucher_list.partner.name,
                "campaignId": assignment.campaign_id,
                "occurrence": assignment.occurrence,
                "assignedAt": assignment.assigned_at.isoformat(),
            }
        )
    return JsonResponse({"status": "success", "records": records})
