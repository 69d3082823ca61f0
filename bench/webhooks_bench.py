"""webhooks_run_ratio / webhooks_events_per_s (batched) / webhooks_events_per_s_single (issue #20).

- webhooks_run_ratio: a one-time flat-points campaign to every profile (the distribute_wallet
  path, publish → Completed) with an active endpoint subscribed to `reward.granted`, divided by
  the same campaign with no endpoint: the cost of the statement-level trigger that writes one
  event and one delivery per grant in each chunk's transaction. Alternating runs, min of each.
  SPEC 9: ≤ 1.2.
- webhooks_events_per_s: the subscribed run's events built (from the one row per chunk its
  trigger wrote) and drained afterwards by the deliverer
  (`webhooks.services.endpoint_deliver`, in-process, one worker) to a receiver on 127.0.0.1 (a
  separate process, bench/webhook_receiver.py), batches of 100 events per signed POST. SPEC 9: ≥ 2,000.
- webhooks_events_per_s_single: the same with one event per POST, over the first SINGLE events.
"""

import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection

from bench.common import Context, Figure, log
from bench.distribute_bench import everyone_list, marketer, one_time_campaign, publish_and_complete
from promotions.models import Campaign
from wallets import services as wallet_services
from webhooks import services
from webhooks.models import PendingEvents, WebhookDelivery, WebhookEndpoint, WebhookEvent

C = Campaign
ROOT = Path(__file__).resolve().parent.parent
SINGLE = 3_000
BATCH = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _campaign(tag: str) -> float:
    wallet = wallet_services.wallet_create(actor=marketer(), name=f"Bench hooks {tag}", points_name="Coins")
    campaign = one_time_campaign(
        f"Bench hooks {tag}",
        everyone_list(f"Bench hooks everyone {tag}"),
        reward_type=C.RewardType.POINTS,
        wallet=wallet,
        points_type=C.PointsType.FLAT,
        flat_points=Decimal(100),
    )
    return publish_and_complete(campaign)


def _drain(endpoint: WebhookEndpoint, limit: int | None = None) -> tuple[int, float]:
    sent, started = 0, time.perf_counter()
    while limit is None or sent < limit:
        n = services.endpoint_deliver(endpoint_id=endpoint.pk, budget_seconds=30)
        if not n:
            break
        sent += n
    return sent, time.perf_counter() - started


def run(ctx: Context) -> list[Figure]:
    settings.WEBHOOK_BLOCK_PRIVATE = False
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, str(ROOT / "bench" / "webhook_receiver.py"), str(port)])  # noqa: S603
    time.sleep(0.5)
    url = f"http://127.0.0.1:{port}/hooks"
    try:
        without, with_hook = [], []
        endpoint = None
        for round_ in range(2):
            WebhookEndpoint.objects.filter(is_active=True).update(is_active=False)
            without.append(_campaign(f"plain {round_}"))
            log(f"  run without an endpoint: {without[-1]:.1f} s")
            endpoint, _ = services.endpoint_create(url=url, event_types=["reward.granted"], batch_size=BATCH)
            WebhookDelivery.objects.exclude(endpoint=endpoint).delete()
            with_hook.append(_campaign(f"hooked {round_}"))
            log(f"  run with a reward.granted endpoint: {with_hook[-1]:.1f} s")
            if round_ == 0:
                # Drop the first round's events: the second round's are drained below.
                WebhookDelivery.objects.filter(endpoint=endpoint).delete()
                PendingEvents.objects.all().delete()
                WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
        ratio = min(with_hook) / min(without)
        pending = sum(len(ids) for ids in PendingEvents.objects.values_list("ids", flat=True))
        ctx.note(
            f"webhooks: run without endpoint {', '.join(f'{t:.1f}' for t in without)} s, with "
            f"{', '.join(f'{t:.1f}' for t in with_hook)} s; {pending:,} events to build and deliver"
        )
        figures = [Figure.at_most("webhooks_run_ratio", ratio, "x", 1.2)]

        sent, elapsed = _drain(endpoint)
        batched = sent / elapsed if elapsed else 0
        ctx.note(f"webhooks: drained {sent:,} events in {elapsed:.1f} s, {BATCH} per POST")
        figures.append(Figure.at_least("webhooks_events_per_s", batched, "events/s", 2000))

        single, _ = services.endpoint_create(url=url, event_types=["reward.granted"], batch_size=1)
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO webhooks_webhookdelivery
                       (event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
                   SELECT id, %s, 'pending', 0, now(), now() FROM webhooks_webhookevent ORDER BY id LIMIT %s""",
                [single.pk, SINGLE],
            )
        sent, elapsed = _drain(single)
        ctx.note(f"webhooks: {sent:,} events one per POST in {elapsed:.1f} s")
        figures.append(Figure.at_least("webhooks_events_per_s_single", sent / elapsed if elapsed else 0, "events/s", 0))
        log(f"  events stored: {WebhookEvent.objects.count():,}")
        return figures
    finally:
        receiver.terminate()
        receiver.wait()
