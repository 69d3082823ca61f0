"""A killed worker's run resumes fast (issue 15), and a run's progress never passes its total.

Recovery: each chunk commits its partition's heartbeat; a partition whose heartbeat is older than
RUN_STALL_SECONDS gets a new chunk task from the 30 s dispatch sweep. A chunk still working holds
its partition row locked and the sweep skips it (SKIP LOCKED), so the limit only has to cover a chunk task's wait
in the queue, not its work: 45 s + the 30 s sweep resume a killed worker's run within 75 s.
(The real-worker kill is `tests/promotions/test_distribution_e2e.py`.)
"""

import datetime
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from promotions import selectors
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun, CampaignRunPartition
from segments.models import CustomListMember
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory

C = Campaign
DISPATCH_SWEEP_SECONDS = 30  # promotions/migrations/0004_beat_dispatch_due_runs.py


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: sent.append(run_id))
    return sent


def started_run(campaign, *, at=None):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.Status.RUNNING)
    at = at or timezone.now()
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=at - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due(now=at) == [run.pk]
    return run


@pytest.mark.django_db
def test_a_run_silent_for_the_stall_limit_is_resumed_within_90_seconds_of_its_last_chunk(no_broker):
    assert settings.RUN_STALL_SECONDS + DISPATCH_SWEEP_SECONDS <= 90
    campaign = campaign_past(members=5)
    run = started_run(campaign)
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.MORE
    last_chunk = CampaignRunPartition.objects.get(run=run).heartbeat_at
    no_broker.clear()  # the worker died: its next chunk task is lost

    limit = datetime.timedelta(seconds=settings.RUN_STALL_SECONDS)
    assert sweeps.runs_recover_stalled(now=last_chunk + limit - datetime.timedelta(seconds=1)) == []
    # The first sweep after the limit, at most one sweep interval later, sends the chunk again.
    assert sweeps.runs_recover_stalled(now=last_chunk + limit + datetime.timedelta(seconds=1)) == [run.pk]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_working_longer_than_the_stall_limit_is_not_sent_twice(no_broker):
    campaign = campaign_past(members=3)
    run = started_run(campaign, at=timezone.now() - datetime.timedelta(hours=1))  # heartbeat an hour old
    working, done = threading.Event(), threading.Event()

    def slow_chunk():
        # A chunk in progress: it holds its partition row for the whole chunk transaction.
        try:
            with transaction.atomic():
                CampaignRunPartition.objects.select_for_update().get(run=run)
                working.set()
                done.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_chunk)
    thread.start()
    try:
        assert working.wait(10)
        assert sweeps.runs_recover_stalled() == []  # alive, however long it takes
    finally:
        done.set()
        thread.join()
    assert sweeps.runs_recover_stalled() == [run.pk]  # once it is gone, the run is owed a chunk


@pytest.mark.django_db
def test_profiles_joining_the_audience_during_a_run_never_push_progress_past_its_total():
    campaign = campaign_past(members=3)
    run = started_run(campaign)
    run.refresh_from_db()
    assert run.total == 3
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.MORE
    CustomListMember.objects.bulk_create(
        [CustomListMember(custom_list=campaign.custom_list, profile=ProfileFactory()) for _ in range(3)]
    )  # three profiles join the list mid-run

    while runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.MORE:
        [now] = selectors.runs_progress([CampaignRun.objects.get(pk=run.pk)])  # as the page shows it
        assert now.processed <= now.total
    run.refresh_from_db()
    assert (run.processed, run.total, run.granted) == (6, 6, 6)  # 100 %, not 200 %
