import pytest

from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


def test_admin_creates_an_endpoint_and_shows_the_secret_once(admin_client_):
    response = admin_client_.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "url": "https://hooks.example.com/a",
            "description": "CRM",
            "event_types": ["reward.granted"],
            "batch_size": 1,
            "is_active": "on",
        },
        follow=True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert (
        endpoint.secret
        not in admin_client_.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    )


def test_admin_refuses_non_http_urls(admin_client_):
    response = admin_client_.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "ftp://hooks.example.com/a", "event_types": ["reward.granted"], "batch_size": 1},
    )
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()


def test_delivery_log_and_resend_pages_open(admin_client_):
    from tests.segments.factories import ProfileFactory
    from tests.webhooks.test_delivery import credit, drain, register

    receiver = Receiver()
    try:
        endpoint, _ = register(receiver.url, "wallet.transaction")
        credit(ProfileFactory(), 3)
        drain(endpoint)
        log = admin_client_.get(f"/admin/webhooks/webhookattempt/?endpoint__id__exact={endpoint.pk}")
        assert log.status_code == 200 and ">ok<" in log.content.decode()
        delivery = WebhookDelivery.objects.get()
        admin_client_.post("/admin/webhooks/webhookdelivery/", {"action": "resend", "_selected_action": [delivery.pk]})
        delivery.refresh_from_db()
        assert delivery.status == "pending"
        drain(endpoint)
        assert len(receiver.requests) == 2
        assert receiver.requests[0][0]["webhook-id"] == receiver.requests[1][0]["webhook-id"]  # same id: de-duplicable
    finally:
        receiver.stop()


def test_the_openapi_document_describes_every_event_type_with_an_example(client):
    from webhooks.models import EventType

    doc = client.get("/api/1/openapi.json").json()
    assert set(doc["webhooks"]) == set(EventType.values)
    granted = doc["webhooks"]["reward.granted"]["post"]
    example = granted["requestBody"]["content"]["application/json"]["example"]
    assert example["type"] == "reward.granted" and example["data"]["identity"]
    assert {p["name"] for p in granted["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
