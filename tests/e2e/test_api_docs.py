"""The interactive API docs (SPEC 7): /api/1/docs renders every endpoint and loads nothing from
another host (Swagger UI comes from django-ninja's static files)."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)


def test_api_docs_render_every_endpoint_with_no_request_leaving_the_server(page, live_server, screenshot):
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto("/api/1/docs")
    expect(page.get_by_role("heading", name="Promo Campaigns API")).to_be_visible()
    # Every operation of the document is shown, the webhook payloads included.
    doc = page.request.get("/api/1/openapi.json").json()
    operations = sum(len(ops) for ops in doc["paths"].values()) + sum(
        len(ops) for ops in doc.get("webhooks", {}).values()
    )
    assert operations >= 13 + 8  # SPEC 7's endpoints and the campaign ones, and the eight event types
    expect(page.locator(".opblock")).to_have_count(operations)
    page.get_by_text("/api/1/promo/wallets/transactions", exact=True).click()
    expect(page.get_by_text("Idempotency-Key").first).to_be_visible()
    screenshot()
    server = urlsplit(live_server.url).netloc
    assert {urlsplit(url).netloc for url in requests} == {server}
    assert any(url.endswith("/static/ninja/swagger-ui-bundle.js") for url in requests)
    assert any(url.endswith("/api/1/openapi.json") for url in requests)
