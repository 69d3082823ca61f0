"""The public API under /api/1/ (SPEC 7): one NinjaAPI, a router per app, its OpenAPI 3
description at /api/1/openapi.json and interactive docs at /api/1/docs (Swagger UI served from
django-ninja's own static files: no CDN)."""

from ninja.openapi.docs import Swagger

from accounts.api import ApiParser, PromoApi, api_urlpatterns
from coupons.api import router as coupons_router
from promotions.api import router as promotions_router
from segments.api import router as segments_router
from vouchers.api import router as vouchers_router
from wallets.api import router as wallets_router
from webhooks.openapi import webhooks_section

DESCRIPTION = """
The Promo Campaigns public API: send events and profiles, read and move wallet points, read
and redeem coupons, read partner vouchers, and manage campaigns.

**Authentication.** Every endpoint needs an API key, sent with HTTP Basic authentication: the
key id (`pk_…`) as the user name and the secret as the password. Admins create keys (Django
admin, or `manage.py create_api_key NAME --scopes …`) and revoke them. A missing, wrong or
revoked key gets 401 with `WWW-Authenticate: Basic realm="api"`.

**Scopes.** Each key carries scopes: `events:write`, `wallets:read`, `wallets:write`,
`coupons:read`, `coupons:write`, `vouchers:read`, `campaigns:read`, `campaigns:write`. Each
endpoint names the scope it needs; a call outside the key's scopes gets 403 with the missing
scope in `scope`.

**Errors.** Every error is JSON `{"status": "fail", "code": <HTTP status>, "error": "<message>"}`,
with `field` naming the field at fault, `reason` for a refused coupon, `scope` for a missing scope.
400 invalid field or body, 401 no or bad key, 403 missing scope, 404 unknown profile, wallet or
campaign, 405 wrong method, 409 state does not allow it (or an `Idempotency-Key` still in flight),
411 chunked body the server cannot read, 413 body over 5 MB or more than 1000 records, 422
refused by a business rule (or an `Idempotency-Key` reused with another body), 429 rate limited
(`Retry-After`), 503 database unreachable (`Retry-After`; nothing was changed).

**Webhooks.** Admins register endpoints (Django admin, or `manage.py create_webhook_endpoint URL
--events TYPE[,TYPE…]`, which prints the id and the signing secret once). Each event is POSTed,
signed per the Standard Webhooks specification (`webhook-id`, `webhook-timestamp`,
`webhook-signature`), at least once, retried with backoff for about a day; the `webhooks`
section of this document describes every payload with an example.

**Idempotency.** `POST /api/1/promo/wallets/transactions` accepts an `Idempotency-Key` header:
a retry with the same key and body returns the first response byte for byte without moving
points again.
"""

api = PromoApi(
    title="Promo Campaigns API",
    version="1",
    description=DESCRIPTION.strip(),
    urls_namespace="api",
    parser=ApiParser(),
    docs=Swagger(settings={"persistAuthorization": False, "tryItOutEnabled": False}),
    docs_url="docs",
    openapi_url="openapi.json",
)
api.webhooks_doc = webhooks_section
api.add_router("", segments_router)
api.add_router("", wallets_router)
api.add_router("", coupons_router)
api.add_router("", vouchers_router)
api.add_router("", promotions_router)

urlpatterns = api_urlpatterns(api)
