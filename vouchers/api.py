"""GET /api/1/promo/vouchers?identity= — the profile's partner vouchers (SPEC 7)."""

import datetime
from typing import Annotated, Literal

from ninja import Field, Query, Router, Schema
from pydantic import BeforeValidator

from accounts.account import account_tzinfo
from accounts.api import ApiError, error_responses, field_error, key_auth
from accounts.models import ApiScope
from segments.models import Profile
from vouchers import selectors

router = Router(tags=["Partner vouchers"])

ERR_IDENTITY_REQUIRED = "identity is required."
ERR_UNKNOWN_IDENTITY = "No profile with identity “{identity}”."
MAX_RECORDS = 500


def _identity(value):
    if not isinstance(value, str) or not value.strip():
        raise field_error(ERR_IDENTITY_REQUIRED)
    return value.strip()


class VoucherRecord(Schema):
    voucherId: int
    voucherCode: str
    voucherListId: int
    listTag: str
    listName: str
    listDescription: str
    listExpiry: int | None = Field(description="Epoch seconds of the first instant the list no longer gives codes.")
    listExpiryDate: str | None = Field(description="The list's last day (account timezone).")
    partner: str
    campaignId: int | None
    occurrence: str
    assignedAt: str


class VouchersOut(Schema):
    status: Literal["success"]
    records: list[VoucherRecord]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "records": [
                        {
                            "voucherId": 7,
                            "voucherCode": "AMZ-55X1",
                            "voucherListId": 2,
                            "listTag": "amazon",
                            "listName": "Amazon Rs 100",
                            "listDescription": "",
                            "listExpiry": 1767205800,
                            "listExpiryDate": "2026-12-31",
                            "partner": "Amazon",
                            "campaignId": 12,
                            "occurrence": "run:5",
                            "assignedAt": "2026-11-02T10:15:00+00:00",
                        }
                    ],
                }
            ]
        }
    }


def list_expiry_timestamp(expires_on: datetime.date | None, tz) -> int | None:
    """The first instant the list no longer gives codes: midnight after its last day, account time."""
    if expires_on is None:
        return None
    end = datetime.datetime.combine(expires_on + datetime.timedelta(days=1), datetime.time(), tzinfo=tz)
    return int(end.timestamp())


@router.get(
    "promo/vouchers",
    auth=key_auth(ApiScope.VOUCHERS_READ),
    response={200: VouchersOut, **error_responses(404)},
    summary="A profile's partner vouchers",
    description="Newest first, at most 500, with each voucher list's expiry. Scope: `vouchers:read`.",
)
def profile_vouchers(
    request,
    identity: Query[Annotated[str, BeforeValidator(_identity), Field(description="The profile's identity.")]],
):
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        raise ApiError(404, ERR_UNKNOWN_IDENTITY.format(identity=identity[:256]), field="identity")
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
    return {"status": "success", "records": records}
