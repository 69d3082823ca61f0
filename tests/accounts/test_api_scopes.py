"""API keys carry scopes (SPEC 7): a call outside them is 403 naming the scope; keys get their
scopes from the admin or `create_api_key --scopes`. Also: the 401 challenge, and request bodies
sent with chunked transfer encoding."""

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts import api
from accounts.models import ApiKey, ApiScope
from segments.models import Event
from tests.factories import ApiKeyFactory
from tests.promotions.factories import CampaignFactory
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets.models import Lot

pytestmark = pytest.mark.django_db


def basic(key: ApiKey, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()}


def key_with(*scopes):
    key, secret = ApiKeyFactory.create_with_secret(scopes=list(scopes))
    return basic(key, secret)


# (method, path, scope it needs)
ENDPOINTS = [
    ("post", "/api/1/upload", "events:write"),
    ("get", "/api/1/promo/wallets?identity=u1", "wallets:read"),
    ("get", "/api/1/promo/transactions?identity=u1&walletId=1", "wallets:read"),
    ("post", "/api/1/promo/wallets/transactions", "wallets:write"),
    ("post", "/api/1/promo/coupons", "coupons:read"),
    ("post", "/api/1/promo/coupons/apply", "coupons:write"),
    ("get", "/api/1/promo/vouchers?identity=u1", "vouchers:read"),
    ("get", "/api/1/promo/campaigns", "campaigns:read"),
    ("get", "/api/1/promo/campaigns/1", "campaigns:read"),
    ("post", "/api/1/promo/campaigns/1/pause", "campaigns:write"),
    ("post", "/api/1/promo/campaigns/1/resume", "campaigns:write"),
    ("post", "/api/1/promo/campaigns/1/stop", "campaigns:write"),
    ("get", "/api/1/promo/campaigns/1/profiles/u1", "campaigns:read"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_a_key_without_the_endpoints_scope_gets_403_naming_it(client, method, path, scope):
    others = [s for s in ApiScope.values if s != scope]
    response = getattr(client, method)(path, **key_with(*others))
    assert response.status_code == 403
    assert response.json() == {
        "status": "fail",
        "code": 403,
        "error": f"This API key lacks the scope “{scope}” that this endpoint needs.",
        "scope": scope,
    }


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_a_key_with_only_the_endpoints_scope_gets_past_the_scope_check(client, method, path, scope):
    if method == "get":
        response = client.get(path, **key_with(scope))
    else:
        response = client.post(path, "{}", content_type="application/json", **key_with(scope))
    # 400 (empty body), 404 (no such profile or campaign) or 200: anything but refused.
    assert response.status_code not in (401, 403), response.content


def test_an_events_only_key_cannot_credit_points_and_nothing_moves(client):
    wallet, _ = WalletFactory(), ProfileFactory(identity="u1")
    events_only = key_with("events:write")
    body = {"identity": "u1", "walletId": wallet.pk, "transactionType": "CREDIT", "points": 10, "description": "x"}
    response = client.post("/api/1/promo/wallets/transactions", body, content_type="application/json", **events_only)
    assert (response.status_code, response.json()["scope"]) == (403, "wallets:write")
    assert not Lot.objects.exists()
    upload = {"d": [{"type": "event", "identity": "u1", "evtName": "Charged"}]}
    assert client.post("/api/1/upload", upload, content_type="application/json", **events_only).status_code == 200
    assert Event.objects.count() == 1


def test_the_scope_is_checked_before_the_body_is_validated(client):
    response = client.post("/api/1/promo/wallets/transactions", "{nope", content_type="application/json", **key_with())
    assert response.status_code == 400  # every scope: the body is judged
    response = client.post(
        "/api/1/promo/wallets/transactions", "{nope", content_type="application/json", **key_with("wallets:read")
    )
    assert response.status_code == 403


def test_a_campaign_stays_running_when_a_read_key_tries_to_stop_it(client):
    campaign = CampaignFactory(status="running")
    response = client.post(f"/api/1/promo/campaigns/{campaign.pk}/stop", **key_with("campaigns:read"))
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == "running"


def test_401_carries_the_basic_challenge(client, api_key):
    key, secret = api_key
    for headers in ({}, basic(key, secret + "x"), {"HTTP_AUTHORIZATION": "Bearer x"}):
        response = client.get("/api/1/promo/wallets?identity=u1", **headers)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="api"'
        assert response.json()["status"] == "fail"


def test_create_api_key_with_scopes(capsys, client):
    call_command("create_api_key", "Mobile backend", "--scopes", "events:write", "wallets:read,coupons:read")
    key_id, secret = capsys.readouterr().out.strip().split(" ")
    key = ApiKey.objects.get(key_id=key_id)
    assert key.scopes == ["events:write", "wallets:read", "coupons:read"]
    credit = client.post("/api/1/promo/wallets/transactions", {}, content_type="application/json", **basic(key, secret))
    assert credit.status_code == 403


def test_create_api_key_without_scopes_gets_every_scope(capsys):
    call_command("create_api_key", "Ops")
    key = ApiKey.objects.get(key_id=capsys.readouterr().out.split(" ")[0])
    assert key.scopes == ApiScope.values


def test_create_api_key_refuses_an_unknown_scope():
    with pytest.raises(CommandError, match="Unknown scope\\(s\\): wallets:delete"):
        call_command("create_api_key", "Ops", "--scopes", "wallets:delete")
    assert not ApiKey.objects.exists()


def test_admin_chooses_scopes_with_checkboxes_and_lists_them(admin_client_):
    form = admin_client_.get("/admin/accounts/apikey/add/").content.decode()
    assert form.count('type="checkbox" name="scopes"') == len(ApiScope.values)
    assert "checked" not in form.split('name="scopes"', 1)[1].split("</ul>", 1)[0]  # nothing ticked for you
    refused = admin_client_.post("/admin/accounts/apikey/add/", {"name": "Everything by accident"})
    assert "Choose at least one scope" in refused.content.decode()
    assert not ApiKey.objects.filter(name="Everything by accident").exists()
    admin_client_.post(
        "/admin/accounts/apikey/add/", {"name": "Checkout", "scopes": ["coupons:read", "coupons:write"]}, follow=True
    )
    key = ApiKey.objects.get(name="Checkout")
    assert key.scopes == ["coupons:read", "coupons:write"]
    listing = admin_client_.get("/admin/accounts/apikey/").content.decode()
    assert "coupons:read, coupons:write" in listing


# Chunked request bodies --------------------------------------------------------------------


def chunked(body: bytes, *, terminated=True) -> dict:
    """The WSGI environ a server gives for `Transfer-Encoding: chunked`: no Content-Length; gunicorn
    hands the de-chunked body on wsgi.input and sets wsgi.input_terminated."""
    environ = {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body)}
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


def test_a_chunked_upload_is_read_not_taken_as_empty(api_client):
    body = json.dumps({"d": [{"type": "event", "identity": "u1", "evtName": "Charged"}]}).encode()
    response = api_client.post("/api/1/upload", body, content_type="application/json", **chunked(body))
    assert response.json() == {"status": "success", "processed": 1, "unprocessed": []}
    assert Event.objects.get().name == "Charged"


def test_a_chunked_wallet_credit_is_read(api_client):
    wallet, _ = WalletFactory(), ProfileFactory(identity="u1")
    body = json.dumps(
        {"identity": "u1", "walletId": wallet.pk, "transactionType": "CREDIT", "points": 5, "description": "x"}
    ).encode()
    response = api_client.post(
        "/api/1/promo/wallets/transactions", body, content_type="application/json", **chunked(body)
    )
    assert response.status_code == 200
    assert Lot.objects.get().amount == 5


def test_a_chunked_body_over_5_mb_is_413_and_stores_nothing(api_client):
    body = json.dumps({"d": [{"type": "event", "identity": "u1", "evtName": "E", "pad": "x" * 600}] * 9000}).encode()
    assert len(body) > api.MAX_BODY_BYTES
    response = api_client.post("/api/1/upload", body, content_type="application/json", **chunked(body))
    assert response.status_code == 413
    assert response.json()["error"] == api.ERR_BODY_TOO_LARGE
    assert not Event.objects.exists()


def test_a_chunked_body_a_server_cannot_dechunk_is_411_not_empty(api_client):
    body = b'{"d": []}'
    response = api_client.post(
        "/api/1/upload", body, content_type="application/json", **chunked(body, terminated=False)
    )
    assert response.status_code == 411
    assert response.json()["error"] == api.ERR_LENGTH_REQUIRED
