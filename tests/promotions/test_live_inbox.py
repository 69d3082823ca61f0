"""The live inbox (outbox topic `promotions.live_events`): batches waiting for matching are
matched together, and none is lost."""

from unittest import mock

import pytest
from django.db import transaction

from accounts import outbox
from accounts.models import Outbox
from promotions import tasks
from promotions.engine import limits, live, sweeps
from segments import live as segments_live
from tests.promotions.live_support import grants, running_live, store

pytestmark = pytest.mark.django_db


def waiting():
    return Outbox.objects.filter(topic=outbox.TOPIC_LIVE_EVENTS)


def waiting_ids() -> set[int]:
    """Event ids still owed live matching (the grants' own system events are a batch too)."""
    return {i for payload in waiting().values_list("payload", flat=True) for i in payload["event_ids"]}


def record(*events):
    with mock.patch("config.celery.app.send_task") as send, transaction.atomic():
        segments_live.events_stored(event_ids=[e.pk for e in events])
    return send


def test_a_stored_batch_waits_in_the_inbox_and_wakes_one_task(django_capture_on_commit_callbacks):
    a, b = store(), store()
    with mock.patch("config.celery.app.send_task") as send:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            segments_live.events_stored(event_ids=[a.pk, b.pk])
        send.assert_called_once_with("promotions.live_events", args=[], retry=False)
    assert list(waiting().values_list("payload", flat=True)) == [{"event_ids": [a.pk, b.pk]}]
    with transaction.atomic():
        segments_live.events_stored(event_ids=[])
    assert waiting().count() == 1


def test_the_inbox_row_is_written_in_the_storing_transaction_or_not_at_all():
    a = store()
    with pytest.raises(ValueError, match="storing failed"), transaction.atomic():
        segments_live.events_stored(event_ids=[a.pk])
        raise ValueError("storing failed")  # the storing transaction fails after the row was written
    assert not waiting().exists()


@pytest.mark.django_db(transaction=True)
def test_the_inbox_row_is_refused_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        segments_live.events_stored(event_ids=[1])  # autocommit: it could commit without its events
    assert not waiting().exists()


def test_one_task_matches_every_waiting_batch_and_the_next_finds_nothing():
    campaign = running_live()
    batches = [(store(), store()) for _ in range(3)]
    for batch in batches:
        record(*batch)
    summary = tasks.live_events([batches[0][0].pk])
    assert summary["batches"] == 3 and summary["granted"] == 6
    assert len(grants(campaign, granted=True)) == 6
    assert not waiting_ids() & {e.pk for batch in batches for e in batch}
    # The next task finds only the grants' own system events, which this campaign never matches.
    assert tasks.live_events([batches[1][0].pk])["granted"] == 0
    assert len(grants(campaign)) == 6


def test_a_batch_whose_task_was_lost_is_matched_by_the_live_sweep():
    campaign = running_live()
    record(store())  # the task never ran
    assert sweeps.live_sweep()["batches"] == 1
    assert len(grants(campaign, granted=True)) == 1


def test_a_lost_race_leaves_the_batches_waiting_with_nothing_given(monkeypatch):
    campaign = running_live()
    record(store())
    record(store())

    def lose(**kwargs):
        raise limits.LimitRace("counter moved")

    monkeypatch.setattr(live, "events_process", lose)
    with pytest.raises(limits.LimitRace):
        live.inbox_drain()
    assert waiting().count() == 2 and grants(campaign) == []
    monkeypatch.undo()
    assert live.inbox_drain()["granted"] == 2


def test_a_batch_that_always_fails_does_not_hold_up_the_others(monkeypatch, caplog):
    campaign = running_live()
    poison = store()
    record(poison)
    good = [store(), store()]
    record(*good)
    real = live.events_process

    def picky(*, event_ids):
        if poison.pk in event_ids:
            raise ValueError("bad batch")
        return real(event_ids=event_ids)

    monkeypatch.setattr(live, "events_process", picky)
    assert live.inbox_drain()["granted"] == 2
    assert {g.occurrence for g in grants(campaign)} == {f"event:{e.pk}" for e in good}
    assert not waiting_ids() & {poison.pk, *(e.pk for e in good)}
    assert "its events are not matched" in caplog.text
