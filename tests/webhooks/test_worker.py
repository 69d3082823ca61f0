"""End to end with a real Celery worker on Redis: a receiver registered with
`create_webhook_endpoint` gets signed events; taken down, it gets every event once back (issue #20)."""

import io
import json

import pytest
from django.core.management import call_command
from standardwebhooks.webhooks import Webhook

from tests import harness
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from tests.webhooks.test_delivery import credit
from webhooks.models import WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WORKER_ENV = {"WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1,1,1", "WEBHOOK_BLOCK_PRIVATE": "0", "WEBHOOK_TASK_SECONDS": "5"}


def test_a_real_worker_delivers_and_catches_up_after_the_receiver_was_down(receiver):
    from config.celery import app

    out = io.StringIO()
    call_command("create_webhook_endpoint", receiver.url, "--events", "wallet.transaction,reward.granted", stdout=out)
    _, secret = out.getvalue().split()
    wallet = WalletFactory()
    for _ in range(3):
        credit(ProfileFactory(), 10, wallet=wallet)

    broker = harness.redis_url()
    harness.purge_redis(broker)
    with harness.celery_process("worker", env=WORKER_ENV), app.connection_for_write(broker) as conn:

        def tick(count):
            # What beat does every 5 s, faster.
            app.send_task("webhooks.deliver_due", connection=conn)
            return len(receiver.requests) >= count

        harness.wait_for(lambda: tick(3), timeout=60, interval=0.5, what="the first three events")

        receiver.stop()
        for _ in range(4):
            credit(ProfileFactory(), 20, wallet=wallet)
        harness.wait_for(
            lambda: tick(99) or WebhookDelivery.objects.filter(status="pending", attempts__gte=2).count() == 4,
            timeout=60,
            interval=0.5,
            what="the worker to try the down receiver twice",
        )
        receiver.start()
        harness.wait_for(lambda: tick(7), timeout=60, interval=0.5, what="every event after the receiver came back")

    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(set(ids)) == 7
    for headers, body in receiver.requests:
        assert Webhook(secret).verify(body, headers)["type"] == "wallet.transaction"
    assert sorted(json.loads(b)["data"]["points"] for _, b in receiver.requests) == [10] * 3 + [20] * 4
    assert WebhookDelivery.objects.filter(status="delivered").count() == 7
