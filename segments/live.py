"""Live matching entry point: the upload API (and system events) hand every stored batch here.

`events_stored` runs inside the transaction that stored the events and writes the batch to the
outbox (accounts/outbox.py) under the live matcher's task name, so the batch's matching commits or
rolls back with the events themselves; the wake-up task goes after the commit, and the outbox
sweep catches any that never arrives. `segments` never imports `promotions`: the row and the
task name are all that travel upward.
"""

from accounts import outbox


def events_stored(*, event_ids: list[int]) -> None:
    """Record a batch of stored events for live matching; call inside the storing transaction."""
    if not event_ids:
        return
    outbox.outbox_add(topic=outbox.TOPIC_LIVE_EVENTS, payload={"event_ids": list(event_ids)})
