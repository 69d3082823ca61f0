"""Live matching entry point: the upload API (and system events) hand every committed batch here.

`promotions.live.inbox_record` writes the batch's ids to the live inbox and enqueues a
matching task; `promotions.live` matches waiting batches against live campaigns. The import
is late because `promotions` builds on `segments`.
"""


def events_stored(*, event_ids: list[int]) -> None:
    """Called once per committed batch of stored events with their ids: queue their live matching."""
    if not event_ids:
        return
    from promotions.live import inbox_record

    inbox_record(event_ids=list(event_ids))
