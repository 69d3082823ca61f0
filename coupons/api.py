"""Coupon API (SPEC 7): the profile's tray, and redeem / revert."""

from django.http import JsonResponse

from config import input_checks
from config.api import api_error, api_view
from coupons import selectors, services
from segments.models import Profile

ERR_JSON = "The body must be a JSON object."
ERR_IDENTITY = "identity is required (the profile's identity, a string)."
ERR_CODE = "code is required (the coupon code, a string)."
ERR_TYPE = "type must be “redeem” or “revert”."
ERR_NO_PROFILE = "No profile has identity “{identity}”."


def _body(request):
    try:
        body = input_checks.json_parse(request.body or b"{}")
    except input_checks.BadJson:
        return None
    return body if isinstance(body, dict) else None


def _unstorable(body):
    """The 400 for a field PostgreSQL cannot store (NUL, lone surrogate, Infinity, deep nesting)."""
    problem = input_checks.field_problem(body)
    return api_error(400, problem[1], field=problem[0]) if problem else None


def _profile(body):
    identity = body.get("identity")
    if not isinstance(identity, str) or not identity.strip():
        return None, api_error(400, ERR_IDENTITY, field="identity")
    profile = Profile.objects.filter(identity=identity.strip()).first()
    if profile is None:
        return None, api_error(404, ERR_NO_PROFILE.format(identity=identity.strip()[:256]), field="identity")
    return profile, None


@api_view("POST")
def coupon_tray(request):
    body = _body(request)
    if body is None:
        return api_error(400, ERR_JSON)
    refused = _unstorable(body)
    if refused is not None:
        return refused
    profile, error = _profile(body)
    if error:
        return error
    return JsonResponse(
        {"status": "success", "identity": profile.identity, "records": selectors.coupon_tray(profile=profile)}
    )


@api_view("POST")
def coupon_apply(request):
    body = _body(request)
    if body is None:
        return api_error(400, ERR_JSON)
    refused = _unstorable(body)
    if refused is not None:
        return refused
    profile, error = _profile(body)
    if error:
        return error
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        return api_error(400, ERR_CODE, field="code")
    kind = body.get("type")
    if kind not in ("redeem", "revert"):
        return api_error(400, ERR_TYPE, field="type")
    service = services.coupon_redeem if kind == "redeem" else services.coupon_revert
    try:
        assignment = service(profile=profile, code=code.strip())
    except services.RedemptionRefused as refusal:
        return api_error(409, refusal.message, reason=refusal.reason)
    return JsonResponse(
        {
            "status": "success",
            "type": kind,
            "code": assignment.code,
            "couponId": assignment.coupon_id,
            "redemptions": assignment.redeem_count,
            "redeemedAt": assignment.redeemed_at.isoformat() if assignment.redeemed_at else None,
        }
    )
