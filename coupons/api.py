"""Coupon API (SPEC 7): the profile's tray, and redeem / revert."""

from typing import Annotated, Literal

from ninja import Field, Router, Schema
from pydantic import BeforeValidator

from accounts.api import ApiError, BodySchema, error_responses, field_error, key_auth
from accounts.models import ApiScope
from coupons import selectors, services
from segments.models import Profile

router = Router(tags=["Coupons"])

ERR_JSON = "The body must be a JSON object."
ERR_IDENTITY = "identity is required (the profile's identity, a string)."
ERR_CODE = "code is required (the coupon code, a string)."
ERR_TYPE = "type must be “redeem” or “revert”."
ERR_NO_PROFILE = "No profile has identity “{identity}”."


def _required_text(message: str):
    def check(value):
        if not isinstance(value, str) or not value.strip():
            raise field_error(message)
        return value.strip()

    return BeforeValidator(check)


def _apply_type(value):
    if value not in ("redeem", "revert"):
        raise field_error(ERR_TYPE)
    return value


Identity = Annotated[str, _required_text(ERR_IDENTITY), Field(description="The profile's identity.", examples=["u1"])]


class TrayIn(BodySchema):
    none_when_absent = ("identity",)

    identity: Identity

    model_config = {"json_schema_extra": {"examples": [{"identity": "u1"}]}}


class TrayRecord(Schema):
    code: str
    couponId: int
    couponName: str
    couponType: str
    description: str
    terms: str
    discountLabel: str
    campaignId: int | None
    campaignName: str | None
    assignedAt: str
    redeemableFrom: str
    expiresAt: str | None
    redeemedAt: str | None
    redemptions: int
    redeemable: bool = Field(description="Whether redeeming now would succeed (active, in its window, under limits).")


class TrayOut(Schema):
    status: Literal["success"]
    identity: str
    records: list[TrayRecord]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "identity": "u1",
                    "records": [
                        {
                            "code": "DIWALI-7KQ2",
                            "couponId": 3,
                            "couponName": "Diwali",
                            "couponType": "bulk",
                            "description": "",
                            "terms": "",
                            "discountLabel": "20% off",
                            "campaignId": 12,
                            "campaignName": "Festive",
                            "assignedAt": "2026-11-01T09:00:00+00:00",
                            "redeemableFrom": "2026-11-01T09:00:00+00:00",
                            "expiresAt": None,
                            "redeemedAt": None,
                            "redemptions": 0,
                            "redeemable": True,
                        }
                    ],
                }
            ]
        }
    }


class ApplyIn(BodySchema):
    none_when_absent = ("identity", "code", "type")

    identity: Identity
    code: Annotated[str, _required_text(ERR_CODE), Field(examples=["DIWALI-7KQ2"])]
    type: Annotated[Literal["redeem", "revert"], BeforeValidator(_apply_type)]

    model_config = {"json_schema_extra": {"examples": [{"identity": "u1", "code": "DIWALI-7KQ2", "type": "redeem"}]}}


class ApplyOut(Schema):
    status: Literal["success"]
    type: Literal["redeem", "revert"]
    code: str
    couponId: int
    redemptions: int
    redeemedAt: str | None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "type": "redeem",
                    "code": "DIWALI-7KQ2",
                    "couponId": 3,
                    "redemptions": 1,
                    "redeemedAt": "2026-11-02T10:15:00+00:00",
                }
            ]
        }
    }


def _profile(identity: str) -> Profile:
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        raise ApiError(404, ERR_NO_PROFILE.format(identity=identity[:256]), field="identity")
    return profile


@router.post(
    "promo/coupons",
    auth=key_auth(ApiScope.COUPONS_READ),
    response={200: TrayOut, **error_responses(404)},
    summary="A profile's coupon tray",
    description=(
        "Every code assigned to the profile, newest first, with its window and whether it can be "
        "redeemed now. Scope: `coupons:read`."
    ),
)
def coupon_tray(request, payload: TrayIn):
    profile = _profile(payload.identity)
    return {"status": "success", "identity": profile.identity, "records": selectors.coupon_tray(profile=profile)}


@router.post(
    "promo/coupons/apply",
    auth=key_auth(ApiScope.COUPONS_WRITE),
    response={200: ApplyOut, **error_responses(404, 409)},
    summary="Redeem or revert a code",
    description=(
        "Refused with 409 and a `reason` (`not_yet_redeemable`, `expired`, `already_redeemed`, "
        "`not_assigned`, `limit_reached`, `coupon_inactive`, …) when the code cannot be redeemed or "
        "reverted now. Scope: `coupons:write`."
    ),
)
def coupon_apply(request, payload: ApplyIn):
    profile = _profile(payload.identity)
    service = services.coupon_redeem if payload.type == "redeem" else services.coupon_revert
    try:
        assignment = service(profile=profile, code=payload.code)
    except services.RedemptionRefused as refusal:
        raise ApiError(409, refusal.message, reason=refusal.reason) from refusal
    return {
        "status": "success",
        "type": payload.type,
        "code": assignment.code,
        "couponId": assignment.coupon_id,
        "redemptions": assignment.redeem_count,
        "redeemedAt": assignment.redeemed_at.isoformat() if assignment.redeemed_at else None,
    }
