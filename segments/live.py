"""Live matching entry point: the upload API hands every committed batch of events here.

The distribution issue fills `events_stored` (match the events against live campaigns and
enqueue their rewards). Until then it deliberately matches nothing; the upload API already
calls it after commit with the ids it stored, which tests/segments/test_upload_api.py checks.
"""


def events_stored(*, event_ids: list[int]) -> None:
    """Called once per committed upload batch with the ids of the events it stored."""
    return None
