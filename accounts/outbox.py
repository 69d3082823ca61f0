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

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Outbox

log = logging.getLogger(__name__)

# The live matcher (promotions.tasks.live_events): payload {"event_ids": [...]}.
TOPIC_LIVE_EVENTS = "promotions.live_events"

ERR_NOT_IN_TRANSACTION = "outbox_add must run inside the transaction that commits the data it follows."


def outbox_add(*, topic: str, payload: dict) -> Outbox:
    """Record work owed by the current transaction; a wake-up task is sent after it commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(ERR_NOT_IN_TRANSACTION)
    row = Outbox.objects.create(topic=topic, payload=payload)
    args = tuple(payload.get("args", ()))
    transaction.on_commit(lambda: outbox_wake(topic=topic, args=args))
    return row


# --- Jobs: one task per row, for background work on one object (an upload, a code batch) -------
#
# A job row ({"args": [...]}) is written in the transaction that creates the work and deleted by
# the task when it starts (`job_started`): it exists exactly while the task has not started, so
# the sweep re-sends it (with its args) only when its wake-up never arrived. Once started, the
# task is covered by acks_late + reject_on_worker_lost like every other task. The sweep re-sends
# a job at most every OUTBOX_JOB_GRACE_SECONDS, so a job waiting behind a long one in the queue
# is not multiplied.


def job_enqueue(*, task: str, args: list) -> Outbox:
    """Owe one run of `task` with `args` from the current transaction (sent after it commits)."""
    return outbox_add(topic=task, payload={"args": list(args)})


def job_started(*, task: str, args: list) -> None:
    """Called by the task first: its job row is gone, the sweep will not send it again."""
    Outbox.objects.filter(topic=task, payload={"args": list(args)}).delete()


def outbox_wake(*, topic: str, args: tuple = ()) -> bool:
    """Send the task named `topic` (a wake-up call); False (logged) when the broker cannot take it.

    `retry=False`: with the broker down the publish fails at once instead of holding the
    request for kombu's retry policy; the sweep sends it again later.
    """
    try:
        # By name (the topic is the task's name), except under `task_always_eager`, which only
        # a registered task's apply_async honours: then it runs here, as any other task would.
        task = current_app.tasks.get(topic) if current_app.conf.task_always_eager else None
        if task is not None:
            task.apply_async(args=list(args), retry=False)
        else:
            current_app.send_task(topic, args=list(args), retry=False)
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
    """Wake each topic that holds a row older than the grace period, and re-send each job whose
    task never started; returns the topics woken (once per job sent)."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.OUTBOX_GRACE_SECONDS)
    old = Outbox.objects.filter(created_at__lt=cutoff)
    topics = sorted(set(old.exclude(payload__has_key="args").values_list("topic", flat=True).distinct()))
    woken = [topic for topic in topics if outbox_wake(topic=topic)]
    job_cutoff = now - datetime.timedelta(seconds=settings.OUTBOX_JOB_GRACE_SECONDS)
    for pk, topic, payload in (
        Outbox.objects.filter(created_at__lt=job_cutoff, payload__has_key="args")
        .order_by("pk")
        .values_list("pk", "topic", "payload")[:SWEEP_JOBS]
    ):
        if outbox_wake(topic=topic, args=tuple(payload["args"])):
            Outbox.objects.filter(pk=pk).update(created_at=now)  # not again before the next grace
            woken.append(topic)
    return woken


# Jobs re-sent per sweep at most (each is one task; a backlog drains over a few sweeps).
SWEEP_JOBS = 100
