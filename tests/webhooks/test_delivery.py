"""Signed webhooks delivered at least once to a real receiver on 127.0.0.1 (issue #20)."""

import io
import json
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from promotions.engine.grants import reward_profiles
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import services as wallet_services
from wallets.models import Source
from webhooks import services
from webhooks.models import PendingEvents, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


def register(url: str, events: str, *extra: str) -> tuple[WebhookEndpoint, str]:
    out = io.StringIO()
    call_command("create_webhook_endpoint", url, "--events", events, *extra, stdout=out)
    endpoint_id, secret = out.getvalue().split()
    return WebhookEndpoint.objects.get(pk=int(endpoint_id)), secret


def credit(profile, points=100, wallet=None):
    with transaction.atomic():
        return wallet_services.wallet_credit(
            wallet=wallet or WalletFactory(),
            profile=profile,
            points=Decimal(points),
            source=Source.API,
            description="Hi",
        )


def drain(endpoint) -> int:
    return services.endpoint_deliver(endpoint_id=endpoint.pk, budget_seconds=5)


def verified(secret: str, request) -> dict:
    headers, body = request
    return Webhook(secret).verify(body, headers)


def test_create_webhook_endpoint_prints_id_and_secret_and_keeps_the_types():
    endpoint, secret = register("https://hooks.example.com/x", "wallet.transaction,reward.granted")
    assert secret.startswith("whsec_") and endpoint.secret == secret
    assert endpoint.event_types == ["reward.granted", "wallet.transaction"]


def test_only_http_urls_and_known_event_types_are_accepted():
    with pytest.raises(ValidationError, match="Only http and https"):
        services.endpoint_create(url="ftp://example.com/", event_types=["reward.granted"])
    with pytest.raises(ValidationError, match="Unknown event type"):
        services.endpoint_create(url="https://example.com/", event_types=["reward.given"])


def test_a_wallet_credit_reaches_the_receiver_signed_and_verifiable(receiver):
    endpoint, secret = register(receiver.url, "wallet.transaction")
    profile = ProfileFactory(identity="u-1")
    credit(profile, 100)

    assert drain(endpoint) == 1

    (request,) = receiver.requests
    payload = verified(secret, request)
    assert payload["type"] == "wallet.transaction"
    assert payload["data"]["identity"] == "u-1"
    assert payload["data"]["type"] == "CREDIT" and payload["data"]["source"] == "API"
    assert Decimal(str(payload["data"]["points"])) == 100
    event = WebhookEvent.objects.get()
    assert request[0]["webhook-id"] == f"msg_{event.pk}"
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED
    attempt = WebhookAttempt.objects.get()
    assert attempt.ok and attempt.status_code == 200 and attempt.response_start == "ok"


def test_no_subscriber_no_event_rows():
    register("https://hooks.example.com/x", "coupon.redeemed")
    credit(ProfileFactory(), 5)
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_run_chunk_sends_one_reward_granted_per_profile_from_one_statement(receiver):
    endpoint, secret = register(receiver.url, "reward.granted", "--batch-size", "50")
    campaign = campaign_past(members=3)
    ids = list(campaign.custom_list.members.values_list("profile_id", flat=True))
    with transaction.atomic():
        reward_profiles(campaign=campaign, profile_ids=ids, occurrence="run:1")
    # The chunk's transaction wrote one row naming its three grants, not three events.
    (pending,) = PendingEvents.objects.filter(type="reward.granted")
    assert len(pending.ids) == 3 and not WebhookEvent.objects.filter(type="reward.granted").exists()

    assert drain(endpoint) == 3

    (request,) = receiver.requests  # batched: one POST with the three events
    events = verified(secret, request)
    assert [e["type"] for e in events] == ["reward.granted"] * 3
    assert len({e["id"] for e in events}) == 3
    data = events[0]["data"]
    assert data["campaignId"] == campaign.pk and data["occurrence"] == "run:1"
    assert Decimal(str(data["points"])) == 100 and data["activatesAt"]


def test_receiver_down_then_back_gets_every_event_none_lost(receiver):
    endpoint, secret = register(receiver.url, "wallet.transaction")
    receiver.stop()
    profiles = [ProfileFactory() for _ in range(5)]
    wallet = WalletFactory()
    for p in profiles:
        credit(p, 10, wallet=wallet)

    # Down: each try fails (connection refused) and is due again a second later.
    assert drain(endpoint) == 5
    assert WebhookDelivery.objects.filter(status="pending", attempts=1).count() == 5
    assert not WebhookAttempt.objects.filter(ok=True).exists()
    assert drain(endpoint) == 0  # nothing due before the backoff has passed

    receiver.start()
    time.sleep(1.3)
    assert drain(endpoint) == 5

    ids = sorted(json.loads(body)["data"]["transactionId"] for _, body in receiver.requests)
    assert len(ids) == 5 and len(set(ids)) == 5
    for request in receiver.requests:
        verified(secret, request)
    assert WebhookDelivery.objects.filter(status="delivered", attempts=2).count() == 5


def test_a_non_2xx_answer_is_retried_and_marked_failed_after_the_schedule(receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    endpoint, _ = register(receiver.url, "wallet.transaction")
    receiver.status = 500
    credit(ProfileFactory(), 1)

    for _ in range(3):
        services.endpoint_deliver_once(endpoint=endpoint)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.attempts == 3
    assert len(receiver.requests) == 3
    assert WebhookAttempt.objects.filter(status_code=500, response_start="receiver unhappy").count() == 3

    services.delivery_resend(deliveries=[delivery])
    receiver.status = 204
    assert drain(endpoint) == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED


def test_a_timeout_is_a_failure_and_retried(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    endpoint, _ = register(receiver.url, "wallet.transaction")
    receiver.delay = 1
    credit(ProfileFactory(), 1)
    services.endpoint_deliver_once(endpoint=endpoint)
    attempt = WebhookAttempt.objects.get()
    assert not attempt.ok and attempt.status_code is None and "timed out" in attempt.response_start
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.PENDING


def test_after_rotation_both_secrets_verify_for_a_day(receiver):
    endpoint, old = register(receiver.url, "wallet.transaction")
    new = services.endpoint_rotate_secret(endpoint=endpoint)
    credit(ProfileFactory(), 1)
    drain(endpoint)
    (request,) = receiver.requests
    assert len(request[0]["webhook-signature"].split(" ")) == 2
    verified(old, request)
    verified(new, request)


def test_an_endpoint_failing_for_a_day_is_disabled_and_admins_are_told(receiver, settings, admin_user):
    from webhooks.models import Notification

    settings.WEBHOOK_DISABLE_AFTER_SECONDS = 0
    endpoint, _ = register(receiver.url, "wallet.transaction")
    receiver.status = 503
    credit(ProfileFactory(), 1)
    services.endpoint_deliver_once(endpoint=endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_reason.startswith("Failing since")
    assert Notification.objects.filter(user=admin_user, kind="webhook").exists()


def test_private_addresses_are_refused_in_production_unless_allow_listed(receiver, settings):
    settings.WEBHOOK_BLOCK_PRIVATE = True
    with pytest.raises(ValidationError, match="private or loopback"):
        services.endpoint_create(url=receiver.url, event_types=["wallet.transaction"])
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.0/8"]
    endpoint, _ = services.endpoint_create(url=receiver.url, event_types=["wallet.transaction"])
    credit(ProfileFactory(), 1)
    services.endpoint_deliver_once(endpoint=endpoint)  # allow-listed: sent to the checked address
    assert len(receiver.requests) == 1 and receiver.requests[0][0]["host"] == f"127.0.0.1:{receiver.port}"
    # Checked again at delivery: once the allow-list no longer names it, the POST is refused.
    settings.WEBHOOK_ALLOWED_HOSTS = []
    credit(ProfileFactory(), 1)
    services.endpoint_deliver_once(endpoint=endpoint)
    assert "private or loopback" in WebhookAttempt.objects.latest("pk").response_start
    assert len(receiver.requests) == 1
