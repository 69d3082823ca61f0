"""The API description (SPEC 7): a valid OpenAPI 3 document at /api/1/openapi.json listing every
endpoint, and interactive docs at /api/1/docs served from local static files."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

from accounts.models import ApiScope

pytestmark = pytest.mark.django_db

# The description's own pages, not API endpoints.
DESCRIPTION_PAGES = {"/api/1/", "/api/1/openapi.json", "/api/1/docs"}

SPEC_7 = [
    ("post", "/api/1/upload"),
    ("get", "/api/1/promo/wallets"),
    ("get", "/api/1/promo/transactions"),
    ("post", "/api/1/promo/wallets/transactions"),
    ("post", "/api/1/promo/coupons"),
    ("post", "/api/1/promo/coupons/apply"),
    ("get", "/api/1/promo/vouchers"),
    ("get", "/api/1/promo/campaigns"),
    ("get", "/api/1/promo/campaigns/{campaign_id}"),
    ("post", "/api/1/promo/campaigns/{campaign_id}/pause"),
    ("post", "/api/1/promo/campaigns/{campaign_id}/resume"),
    ("post", "/api/1/promo/campaigns/{campaign_id}/stop"),
    ("get", "/api/1/promo/campaigns/{campaign_id}/profiles/{identity}"),
]


@pytest.fixture
def doc(client):
    response = client.get("/api/1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def _api_routes():
    """Every URL under /api/1/ in the URL conf, with path arguments as {name}."""

    def walk(entries, prefix):
        for entry in entries:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                yield prefix + str(entry.pattern)

    routes = {"/" + route for route in walk(get_resolver().url_patterns, "") if route.startswith("api/1/")}
    return {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route) for route in routes}


def test_the_description_is_a_valid_openapi_3_document(doc):
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Promo Campaigns API"


def test_every_url_under_api_1_is_described(doc):
    routes = _api_routes() - DESCRIPTION_PAGES
    assert routes, "the URL walk found the API"
    assert routes == set(doc["paths"])


def test_every_spec_endpoint_is_described_with_its_method(doc):
    for method, path in SPEC_7:
        assert method in doc["paths"].get(path, {}), (method, path)


def test_every_operation_documents_auth_scope_errors_and_examples(doc):
    assert doc["components"]["securitySchemes"] == {"ApiKeyAuth": {"type": "http", "scheme": "basic"}}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            (requirement,) = operation["security"]
            assert list(requirement) == ["ApiKeyAuth"], where
            assert requirement["ApiKeyAuth"][0] in ApiScope.values, where
            assert f"Scope: `{requirement['ApiKeyAuth'][0]}`" in operation["description"], where
            responses = operation["responses"]
            assert {"200", "400", "401", "403"} <= set(responses), where
            assert "example" in responses["200"]["content"]["application/json"], where
            for code, response in responses.items():
                if code != "200":
                    example = response["content"]["application/json"]["example"]
                    assert example["status"] == "fail" and example["code"] == int(code), where
            assert responses["401"]["headers"]["WWW-Authenticate"], where
            if "requestBody" in operation:
                assert "example" in operation["requestBody"]["content"]["application/json"], where
            for param in operation.get("parameters", []):
                assert not isinstance(param.get("examples"), list), where


def test_idempotency_key_and_evt_id_are_documented(doc):
    params = doc["paths"]["/api/1/promo/wallets/transactions"]["post"]["parameters"]
    (header,) = [p for p in params if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is False
    assert "byte for byte" in header["description"]
    upload = doc["paths"]["/api/1/upload"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    event_schema = upload["properties"]["d"]["items"]["oneOf"][0]
    assert "evtId" in event_schema["properties"] and "evtId" not in event_schema["required"]
    assert upload["properties"]["d"]["maxItems"] == 1000


def test_the_description_is_public_and_the_docs_page_uses_local_assets_only(client):
    response = client.get("/api/1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "/api/1/openapi.json" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no asset from another host"


def test_docs_do_not_need_an_api_key_but_endpoints_do(client):
    assert client.get("/api/1/openapi.json").status_code == 200
    assert client.get("/api/1/promo/campaigns").status_code == 401
