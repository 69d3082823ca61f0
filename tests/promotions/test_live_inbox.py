"""The live inbox: batches waiting for matching are matched together, and none is lost."""

from unittest import mock

import pytest

from promotions import live, tasks
from promotions.models import LiveInbox
from segments import live as segments_live
from tests.promotions.live_support import grants, running_live, store

pytestmark = pytest.mark.django_db


def record(*events):
    with mock.patch.object(tasks.live_events, "delay") as delay:
        segments_live.events_stored(event_ids=[e.pk for e in events])
    return delay


def test_a_stored_batch_waits_in_the_inbox_and_enqueues_one_task(django_capture_on_commit_callbacks):
    a, b = store(), store()
    with mock.patch.object(tasks.live_events, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=True):
            segments_live.events_stored(event_ids=[a.pk, b.pk])
        delay.assert_called_once_with([a.pk, b.pk])
    assert list(LiveInbox.objects.values_list("event_ids", flat=True)) == [[a.pk, b.pk]]
    segments_live.events_stored(event_ids=[])
    assert LiveInbox.objects.count() == 1


def test_one_task_matches_every_waiting_batch_and_the_next_finds_nothing():
    campaign = running_live()
    batches = [(store(), store()) for _ in range(3)]
    for batch in batches:
        record(*batch)
    summary = tasks.live_events([batches[0][0].pk])
    assert summary["batches"] == 3 and summary["granted"] == 6
    assert len(grants(campaign, granted=True)) == 6
    assert not LiveInbox.objects.exists()
    assert tasks.live_events([batches[1][0].pk])["batches"] == 0
    assert len(grants(campaign)) == 6


def test_a_batch_whose_task_was_lost_is_matched_by_the_live_sweep():
    campaign = running_live()
    record(store())  # the task never ran
    assert live.live_sweep()["batches"] == 1
    assert len(grants(campaign, granted=True)) == 1


def test_a_lost_race_leaves_the_batches_waiting_with_nothing_given(monkeypatch):
    campaign = running_live()
    record(store())
    record(store())

    def lose(**kwargs):
        raise live.LimitRace("counter moved")

    monkeypatch.setattr(live, "events_process", lose)
    with pytest.raises(live.LimitRace):
        live.inbox_drain()
    assert LiveInbox.objects.count() == 2 and grants(campaign) == []
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
    assert not LiveInbox.objects.exists()
    assert "its events are not matched" in caplog.text
