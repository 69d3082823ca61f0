"""The public API's shared parts: API-key authentication (HTTP Basic) and JSON errors.

Every API view is wrapped by `api_view`, which authenticates before the view runs. Errors
follow SPEC 7: `{"status": "fail", "code": <int>, "error": "<message>"}`.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from functools import wraps

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config import input_checks, ratelimit
from config.models import ApiKey

ERR_NO_CREDENTIALS = "API key required: send the key id and secret with HTTP Basic authentication."
ERR_BAD_CREDENTIALS = "Invalid API key id or secret."
ERR_REVOKED = "This API key has been revoked."
ERR_METHOD = "Method not allowed."
ERR_RATE_LIMITED = "Too many requests for this API key: at most {limit} every {window} seconds. Retry in {retry} s."

KEY_ID_PREFIX = "pk_"

# Named per-key limits; each reads its (requests, seconds) from settings at request time.
RATE_LIMITS = {"upload": ratelimit.upload_rate}


def api_error(status: int, error: str, *, code: int | None = None, **extra) -> JsonResponse:
    body = {"status": "fail", "code": code if code is not None else status, "error": error, **extra}
    return JsonResponse(body, status=status)


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random tokens, so a fast hash is as strong as a slow one here
    # and keeps authentication cheap on the hot upload path.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create an API key; returns it and the plain secret, which is never stored."""
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        key_id=KEY_ID_PREFIX + secrets.token_hex(8),
        secret_hash=hash_secret(secret),
        created_by=created_by,
    )
    return key, secret


def api_key_revoke(*, key: ApiKey) -> None:
    """Revoke a key; requests made with it get 401 from then on."""
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    key_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return key_id, secret


# Compared against when the key id is unknown, so both paths cost one digest comparison.
_DUMMY_HASH = hash_secret("no-such-key")


def authenticate(request) -> ApiKey | JsonResponse:
    """The request's active API key, or the 401 response to return."""
    creds = _parse_basic(request.headers.get("Authorization", ""))
    if creds is None:
        return api_error(401, ERR_NO_CREDENTIALS)
    key_id, secret = creds
    if input_checks.text_problem(key_id):
        return api_error(401, ERR_BAD_CREDENTIALS)  # a NUL would fail the lookup itself
    key = ApiKey.objects.filter(key_id=key_id).first()
    expected = key.secret_hash if key else _DUMMY_HASH
    if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
        return api_error(401, ERR_BAD_CREDENTIALS)
    if not key.is_active:
        return api_error(401, ERR_REVOKED)
    return key


def rate_limited(request, *, scope: str, rate: tuple[int, int]) -> JsonResponse | None:
    """The 429 response when the request's API key is over `rate` in `scope`, else None."""
    verdict = ratelimit.rate_limit_hit(scope=scope, key=request.api_key.key_id, rate=rate)
    if verdict.allowed:
        return None
    response = api_error(429, ERR_RATE_LIMITED.format(limit=verdict.limit, window=rate[1], retry=verdict.retry_after))
    response["Retry-After"] = str(verdict.retry_after)
    return response


def api_view(*methods: str, rate_limit: str | None = None):
    """Wrap a public API view: no session or CSRF, API-key auth, allowed methods, JSON errors.

    `rate_limit` names a per-key limit (see RATE_LIMITS), counted after authentication so an
    unauthenticated flood cannot use up a real key's allowance.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = api_error(405, ERR_METHOD)
                response["Allow"] = ", ".join(methods)
                return response
            result = authenticate(request)
            if isinstance(result, JsonResponse):
                return result
            request.api_key = result
            if rate_limit:
                refused = rate_limited(request, scope=rate_limit, rate=RATE_LIMITS[rate_limit]())
                if refused is not None:
                    return refused
            return view(request, *args, **kwargs)

        wrapped = csrf_exempt(login_not_required(wrapped))
        wrapped.access_rule = "api"
        return wrapped

    return decorator
