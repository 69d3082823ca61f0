"""The public API's shared parts (SPEC 7) on django-ninja: API-key authentication (HTTP Basic)
with scopes and rate limits, the request body reader, and the JSON error envelope.

Every endpoint is an operation of one `NinjaAPI` (config/api_urls.py) whose auth is
`ApiKeyAuth(scope)`. Errors follow SPEC 7: `{"status": "fail", "code": <int>, "error": "<message>"}`
(plus `field` when one field is at fault), whatever raised them: an `ApiError` from a view,
ninja's request validation (pydantic), a failed authentication or a scope the key lacks.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from decimal import Decimal
from functools import wraps
from typing import ClassVar

import pydantic
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.security import HttpBasicAuth
from pydantic_core import PydanticCustomError

from accounts import ratelimit
from accounts.models import ApiKey, ApiScope, all_scopes
from core import input_checks

ERR_NO_CREDENTIALS = "API key required: send the key id and secret with HTTP Basic authentication."
ERR_BAD_CREDENTIALS = "Invalid API key id or secret."
ERR_REVOKED = "This API key has been revoked."
ERR_METHOD = "Method not allowed."
ERR_RATE_LIMITED = "Too many requests for this API key: at most {limit} every {window} seconds. Retry in {retry} s."
ERR_SCOPE = "This API key lacks the scope “{scope}” that this endpoint needs."
ERR_JSON = "The body must be a JSON object."
ERR_BODY_TOO_LARGE = "Request body is larger than 5 MB."
ERR_LENGTH_REQUIRED = "This server cannot read a chunked request body: send Content-Length."
ERR_NOT_FOUND = "Not found."
ERR_REQUIRED = "{field} is required."
ERR_UNKNOWN_SCOPES = "Unknown scope(s): {scopes}. Known scopes: {known}."

KEY_ID_PREFIX = "pk_"
MAX_BODY_BYTES = 5 * 1024 * 1024
BASIC_CHALLENGE = 'Basic realm="api"'

# Named per-key limits; each reads its (requests, seconds) from settings at request time.
RATE_LIMITS = {"upload": ratelimit.upload_rate}


class ApiError(Exception):
    """An error answered as the SPEC 7 envelope; `extra` adds keys such as `field` or `reason`."""

    def __init__(self, status: int, error: str, *, code: int | None = None, headers=None, **extra):
        super().__init__(error)
        self.status, self.error, self.code, self.headers, self.extra = status, error, code, headers or {}, extra


def api_error(status: int, error: str, *, code: int | None = None, **extra) -> JsonResponse:
    body = {"status": "fail", "code": code if code is not None else status, "error": error, **extra}
    return JsonResponse(body, status=status)


def field_error(message: str) -> PydanticCustomError:
    """Raise from a schema validator: the API answers 400 with exactly `message` and the field name."""
    return PydanticCustomError("api_field", message)


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random tokens, so a fast hash is as strong as a slow one here
    # and keeps authentication cheap on the hot upload path.
    return hashlib.sha256(secret.encode()).hexdigest()


def scopes_clean(scopes) -> list[str]:
    """The scopes a new key gets: every scope when none is named; unknown names are refused."""
    if not scopes:
        return all_scopes()
    unknown = sorted(set(scopes) - set(ApiScope.values))
    if unknown:
        raise ValueError(ERR_UNKNOWN_SCOPES.format(scopes=", ".join(unknown), known=", ".join(ApiScope.values)))
    return [scope for scope in ApiScope.values if scope in scopes]


def api_key_create(*, name: str, created_by=None, scopes=None) -> tuple[ApiKey, str]:
    """Create an API key with `scopes` (all when None); returns it and the plain secret, which is never stored."""
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        key_id=KEY_ID_PREFIX + secrets.token_hex(8),
        secret_hash=hash_secret(secret),
        created_by=created_by,
        scopes=scopes_clean(scopes),
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


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": BASIC_CHALLENGE})


def authenticate(request) -> ApiKey:
    """The request's active API key; raises the 401 ApiError otherwise."""
    creds = _parse_basic(request.headers.get("Authorization", ""))
    if creds is None:
        raise _unauthorized(ERR_NO_CREDENTIALS)
    key_id, secret = creds
    if input_checks.text_problem(key_id):
        raise _unauthorized(ERR_BAD_CREDENTIALS)  # a NUL would fail the lookup itself
    key = ApiKey.objects.filter(key_id=key_id).first()
    expected = key.secret_hash if key else _DUMMY_HASH
    if not hmac.compare_digest(expected, hash_secret(secret)) or key is None:
        raise _unauthorized(ERR_BAD_CREDENTIALS)
    if not key.is_active:
        raise _unauthorized(ERR_REVOKED)
    return key


def rate_limit_check(request, *, scope: str, rate: tuple[int, int]) -> None:
    """Raise the 429 ApiError when the request's API key is over `rate` in `scope`."""
    verdict = ratelimit.rate_limit_hit(scope=scope, key=request.api_key.key_id, rate=rate)
    if not verdict.allowed:
        message = ERR_RATE_LIMITED.format(limit=verdict.limit, window=rate[1], retry=verdict.retry_after)
        raise ApiError(429, message, headers={"Retry-After": str(verdict.retry_after)})


def body_limit() -> int:
    return min(MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY_BYTES)


def body_load(request) -> bytes:
    """Read the request body once, at most 5 MB (413 above), chunked transfer encoding included.

    Django's WSGIRequest reads `CONTENT_LENGTH` bytes and treats a missing length as an empty
    body, so a chunked request would arrive empty. gunicorn de-chunks the body and says so with
    `wsgi.input_terminated`: then the stream is read to its end here, bounded as it is read.
    A server that cannot de-chunk (Django's runserver) gets 411 rather than a silent empty body.
    """
    if hasattr(request, "_body"):
        return request._body
    limit = body_limit()
    declared = request.META.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if declared or not chunked or "wsgi.input" not in request.META:
        if declared.isdigit() and int(declared) > limit:
            raise ApiError(413, ERR_BODY_TOO_LARGE)
        try:
            body = request.body
        except RequestDataTooBig as exc:
            raise ApiError(413, ERR_BODY_TOO_LARGE) from exc
        if len(body) > limit:
            raise ApiError(413, ERR_BODY_TOO_LARGE)
        return body
    if not request.META.get("wsgi.input_terminated"):
        raise ApiError(411, ERR_LENGTH_REQUIRED)
    stream, parts, size = request.META["wsgi.input"], [], 0
    while chunk := stream.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, ERR_BODY_TOO_LARGE)
        parts.append(chunk)
    request._body = b"".join(parts)
    request._read_started = True
    return request._body


class ApiKeyAuth(HttpBasicAuth):
    """HTTP Basic with an API key id and secret, then the key's scope, then its rate limit.

    The scope check and the rate limit run here, before ninja parses the body, so a key that may
    not call the endpoint never gets its body read, and an unauthenticated flood cannot use up a
    real key's allowance. The body is read here too (body_load) so chunked bodies reach ninja.
    """

    def __init__(self, scope: str | None = None, *, rate_limit: str | None = None):
        super().__init__()
        self.scope, self.rate_limit = scope, rate_limit

    def __call__(self, request):
        key = authenticate(request)
        request.api_key = key
        if self.scope and not key.has_scope(self.scope):
            raise ApiError(403, ERR_SCOPE.format(scope=self.scope), scope=self.scope)
        if self.rate_limit:
            rate_limit_check(request, scope=self.rate_limit, rate=RATE_LIMITS[self.rate_limit]())
        if request.method in ("POST", "PUT", "PATCH"):
            body_load(request)
        return key

    def authenticate(self, request, username, password):
        # ninja's abstract hook; __call__ above reads the header itself (so a missing or malformed
        # one gets our 401 with the challenge), so this only hands over to it.
        return self(request)


def key_auth(scope: str, *, rate_limit: str | None = None) -> ApiKeyAuth:
    return ApiKeyAuth(scope, rate_limit=rate_limit)


def refuse_unstorable_text(data) -> None:
    """400 naming the field when any part of a parsed body or query string cannot be stored
    (NUL, unpaired surrogate, non-finite number, nesting deeper than input_checks.MAX_DEPTH)."""
    problem = input_checks.value_problem(data)
    if problem is not None:
        where, reason = problem
        extra = {"field": where} if where else {}
        raise ApiError(400, input_checks.ERR_FIELD.format(path=where or "The body", reason=reason), **extra)


class ApiParser(Parser):
    """JSON bodies with decimal fractions as Decimal, so `"points": 0.1` is exactly 0.1; bodies and
    query strings with text the database cannot store are refused (400 naming the field)."""

    def parse_body(self, request):
        try:
            data = input_checks.json_parse(body_load(request), parse_float=Decimal)
        except input_checks.BadJson as exc:
            message = exc.message if exc.message == input_checks.ERR_JSON_TOO_DEEP else ERR_JSON
            raise ApiError(400, message) from exc
        refuse_unstorable_text(data)
        return data

    def parse_querydict(self, data, list_fields, request):
        result = super().parse_querydict(data, list_fields, request)
        refuse_unstorable_text(result)
        return result


class BodySchema(pydantic.BaseModel):
    """A JSON-object request body. Fields named in `none_when_absent` reach their validators as
    None when absent, so a missing one gets that field's own message."""

    none_when_absent: ClassVar[tuple[str, ...]] = ()

    @pydantic.model_validator(mode="before")
    @classmethod
    def _object_body(cls, data):
        if not isinstance(data, dict):
            raise PydanticCustomError("api_body", ERR_JSON)
        if cls.none_when_absent:
            data = {**dict.fromkeys(cls.none_when_absent), **data}
        return data


# Error responses, as documented in the OpenAPI description --------------------------------


class ErrorOut(Schema):
    status: str = "fail"
    code: int = Field(description="The HTTP status.")
    error: str = Field(description="What went wrong, in words.")
    field: str | None = Field(None, description="The field, parameter or header at fault (400, 404, 422).")
    scope: str | None = Field(None, description="The scope the API key lacks (403).")
    reason: str | None = Field(None, description="Why a coupon or campaign action was refused (409).")

    model_config = {
        "json_schema_extra": {
            "examples": [{"status": "fail", "code": 400, "error": "identity is required.", "field": "identity"}]
        }
    }


ERROR_DESCRIPTIONS = {
    400: "A field is missing or invalid, or the body is not JSON; `field` names the field.",
    401: "No, malformed, unknown or revoked API key (`WWW-Authenticate: Basic`).",
    403: "The API key lacks the scope this endpoint needs; `scope` names it.",
    404: "The profile, wallet or campaign does not exist; `field` names the argument.",
    405: "Method not allowed.",
    409: "The current state does not allow it; `reason` or `error` says why.",
    411: "A chunked body on a server that cannot read one: send Content-Length.",
    413: "Body larger than 5 MB (or more than 1000 records on upload).",
    422: "Refused by a business rule; `field` names the field.",
    429: "Rate limited: `Retry-After` says when to retry.",
}


def error_responses(*codes: int) -> dict:
    """`response=` entries for the error statuses an endpoint can answer (401 and 403 always)."""
    return dict.fromkeys(sorted({400, 401, 403, *codes}), ErrorOut)


# Exception handlers: every failure answers the SPEC 7 envelope ---------------------------


def _envelope(status: int, error: str, *, code: int | None = None, headers=None, **extra) -> JsonResponse:
    response = api_error(status, error, code=code, **extra)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _on_api_error(request, exc: ApiError):
    return _envelope(exc.status, exc.error, code=exc.code, headers=exc.headers, **exc.extra)


def _field_name(loc: list) -> str | None:
    # ("body", "payload", "points") / ("query", "identity") / ("header", "Idempotency-Key")
    names = [str(part) for part in loc[1:] if not isinstance(part, int)]
    if loc and loc[0] == "body":
        names = names[1:]  # the view's body argument
    return names[-1] if names else None


def validation_message(error: dict) -> tuple[str, str | None]:
    """The message and field of one pydantic error: our own message, else one naming the field."""
    field = _field_name(list(error.get("loc", ())))
    if field is None:
        return ERR_JSON, None
    if error.get("type") == "missing":
        return ERR_REQUIRED.format(field=field), field
    if error.get("type") == "api_field":
        return error["msg"], field
    return f"{field}: {error['msg']}", field


def _on_validation_error(request, exc: ValidationError):
    # A missing field first, then the first invalid one in the schema's field order.
    errors = sorted(exc.errors, key=lambda e: e.get("type") != "missing")
    message, field = validation_message(errors[0])
    extra = {"field": field} if field else {}
    return _envelope(400, message, **extra)


def _on_http_error(request, exc: HttpError):
    cause = exc.__cause__
    if isinstance(cause, ApiError):
        return _on_api_error(request, cause)
    if exc.status_code == 400 and cause is not None:  # the body did not parse (bad JSON, too deep)
        return _envelope(400, ERR_JSON)
    if isinstance(exc, AuthenticationError):
        return _envelope(401, ERR_NO_CREDENTIALS, headers={"WWW-Authenticate": BASIC_CHALLENGE})
    return _envelope(exc.status_code, str(exc))


def _on_404(request, exc):
    return _envelope(404, ERR_NOT_FOUND)


def _reraise(request, exc):
    # Let Django's middleware answer (DatabaseUnavailableMiddleware's JSON 503, or the 500 page).
    raise exc


EXAMPLE_ERRORS = {
    400: ("identity is required.", {"field": "identity"}),
    401: (ERR_NO_CREDENTIALS, {}),
    403: (ERR_SCOPE.format(scope="wallets:write"), {"scope": "wallets:write"}),
    404: ("identity: no profile has this identity.", {"field": "identity"}),
    405: (ERR_METHOD, {}),
    409: ("You cannot pause a campaign that is Stopped.", {"reason": "pause_not_allowed"}),
    411: (ERR_LENGTH_REQUIRED, {}),
    413: (ERR_BODY_TOO_LARGE, {}),
    422: ("Debit points exceed the active points in the user's wallet.", {"field": "points"}),
    429: (ERR_RATE_LIMITED.format(limit=1200, window=60, retry=12), {}),
}
RESPONSE_HEADERS = {
    401: {"WWW-Authenticate": {"description": '`Basic realm="api"`', "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds until the window resets.", "schema": {"type": "integer"}}},
}
_SCOPE_IN_DESCRIPTION = re.compile(r"Scope: `([a-z]+:[a-z]+)`")


def _schema_example(doc: dict, schema: dict):
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = doc.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[1], {})
    examples = schema.get("examples")
    return examples[0] if isinstance(examples, list) and examples else None


def openapi_polish(doc: dict) -> dict:
    """What ninja does not write: error descriptions and examples, auth headers, each operation's
    scope (as the security requirement's role, which OpenAPI 3.1 allows), examples on the media
    types, and parameter examples in OpenAPI's shape."""
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            for param in operation.get("parameters", []):
                if isinstance(param.get("examples"), list):
                    param["example"] = param.pop("examples")[0]
            match = _SCOPE_IN_DESCRIPTION.search(operation.get("description", ""))
            if match:
                operation["security"] = [{name: [match.group(1)]} for entry in operation["security"] for name in entry]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "example" not in body:
                example = _schema_example(doc, body.get("schema", {}))
                if example is not None:
                    body["example"] = example
            for code, response in operation.get("responses", {}).items():
                status = int(code)
                media = response.get("content", {}).get("application/json")
                if status in ERROR_DESCRIPTIONS:
                    response["description"] = ERROR_DESCRIPTIONS[status]
                    error, extra = EXAMPLE_ERRORS[status]
                    if media is not None:
                        media["example"] = {"status": "fail", "code": status, "error": error, **extra}
                    if status in RESPONSE_HEADERS:
                        response["headers"] = RESPONSE_HEADERS[status]
                elif media is not None and "example" not in media:
                    example = _schema_example(doc, media.get("schema", {}))
                    if example is not None:
                        media["example"] = example
    return doc


class PromoApi(NinjaAPI):
    # The OpenAPI 3.1 `webhooks` map (what the API POSTs to customers), set by the wiring.
    webhooks_doc = None

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        doc = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        if self.webhooks_doc:
            doc["webhooks"] = self.webhooks_doc()
        return openapi_polish(doc)

    def set_default_exception_handlers(self) -> None:
        self.add_exception_handler(Exception, _reraise)
        self.add_exception_handler(Http404, _on_404)
        self.add_exception_handler(HttpError, _on_http_error)
        self.add_exception_handler(ValidationError, _on_validation_error)
        self.add_exception_handler(ApiError, _on_api_error)


def method_not_allowed_as_json(response):
    """ninja answers a wrong method with a plain-text 405; the API answers JSON with `Allow`."""
    if isinstance(response, HttpResponseNotAllowed):
        allowed = sorted(m.strip() for m in response["Allow"].split(","))
        json_response = api_error(405, ERR_METHOD)
        json_response["Allow"] = ", ".join(allowed)
        return json_response
    return response


def api_view_mark(view, *, rule: str = "api"):
    """Wrap a ninja URL callback: no session needed, no CSRF, JSON 405, the access rule for the URL walk."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        return method_not_allowed_as_json(view(request, *args, **kwargs))

    wrapped = csrf_exempt(login_not_required(wrapped))
    wrapped.access_rule = rule
    return wrapped


def api_urlpatterns(api: NinjaAPI) -> list:
    """The API's URL patterns, each callback marked: the description and docs are public pages."""
    patterns, _app, _namespace = api.urls
    public = {"openapi-json", "openapi-view", "api-root"}
    marked = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        rule = "public" if pattern.name in public else "api"
        marked.append(
            URLPattern(pattern.pattern, api_view_mark(pattern.callback, rule=rule), pattern.default_args, pattern.name)
        )
    return marked
