"""The transactional outbox: work owed because a transaction committed (STYLE, Celery).

A service that commits data with a side effect (a stored batch to match live, later a
webhook to send) calls `outbox_add` inside its transaction: the row commits or rolls back
with the data, so no crash between the commit and an enqueue can lose the work. After the
commit a wake-up task is sent (`outbox_wake`); it carries no payload, and a failure to send
it (broker down, connection refused) is logged and swallowed, never reaching the caller:
the data is safe and the row is still there. `outbox_sweep` (beat, every 30 s) wakes every
topic that still holds a row older than OUTBOX_GRACE_SECONDS, so work whose wake-up never
came is done once the broker is back.

A topic is the name of the Celery task that consumes its rows, so the writer (a lower app)
never imports the reader (a higher one): the consumer claims rows with `outbox_claim`
(SKIP LOCKED, oldest first) and deletes them with `outbox_done` in the transaction that does
their work; a consumer that fails rolls back and leaves the rows for the next wake-up.
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.models import Outbox

log = logging.getLogger(__name__)

# The live matcher (promotions.tasks.live_events): payload {"event_ids": [...]}.
TOPIC_LIVE_EVENTS = "promotions.live_events"

ERR_NOT_IN_TRANSACTION = "outbox_add must run inside the transaction that commits the data it follows."


def outbox_add(*, topic: str, payload: dict) -> Outbox:
    """Record work owed by the current transaction; a wake-up task is sent after it commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(ERR_NOT_IN_TRANSACTION)
    row = Outbox.objects.create(topic=topic, payload=payload)
    transaction.on_commit(lambda: outbox_wake(topic=topic))
    return row


def outbox_wake(*, topic: str, args: tuple = ()) -> bool:
    """Send the task named `topic` (a wake-up call); False (logged) when the broker cannot take it.

    `retry=False`: with the broker down the publish fails at once instead of holding the
    request for kombu's retry policy; the sweep sends it again later.
    """
    from config.celery import app

    try:
        app.send_task(topic, args=list(args), retry=False)
    except Exception:  # noqa: BLE001 (any broker failure: the row stays, the sweep retries)
        log.warning("Outbox wake-up for %s not sent; the outbox sweep will retry", topic, exc_info=True)
        return False
    return True


def outbox_claim(*, topic: str, limit: int) -> list[tuple[int, dict]]:
    """Lock and return up to `limit` of the topic's oldest rows as (id, payload); call inside the
    consumer's transaction. SKIP LOCKED: two consumers never take the same row, nor wait."""
    return list(
        Outbox.objects.select_for_update(skip_locked=True)
        .filter(topic=topic)
        .order_by("pk")
        .values_list("pk", "payload")[:limit]
    )


def outbox_done(*, ids: list[int]) -> None:
    """Delete rows whose work committed in the current transaction."""
    Outbox.objects.filter(pk__in=ids).delete()


def outbox_sweep(*, now: datetime.datetime | None = None) -> list[str]:
    """Wake each topic that holds a row older than the grace period; returns the topics woken."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.OUTBOX_GRACE_SECONDS)
    topics = sorted(set(Outbox.objects.filter(created_at__lt=cutoff).values_list("topic", flat=True).distinct()))
    return [topic for topic in topics if outbox_wake(topic=topic)]
