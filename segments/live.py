"""Live matching entry point: the upload API (and system events) hand every committed batch here.

One Celery task per batch, ids only, enqueued after commit; `promotions.live` matches the
events against live campaigns. The import is late because `promotions` builds on `segments`.
"""


def events_stored(*, event_ids: list[int]) -> None:
    """Called once per committed batch of stored events with their ids: enqueue their live matching."""
    if not event_ids:
        return
    from promotions.tasks import live_events

    live_events.delay(list(event_ids))
