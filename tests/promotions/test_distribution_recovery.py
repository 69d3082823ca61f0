"""Runs that lost their chunk task are picked up again; "profiles rewarded" counts profiles, not rewards."""

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from promotions import services, tasks
from promotions.engine import runs, sweeps
from promotions.models import Campaign, CampaignRun, CampaignRunPartition, Grant
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory
from wallets.models import Lot

C = Campaign


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Record enqueued chunks instead of sending them to a broker."""
    sent = []
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: sent.append(run_id))
    return sent


@pytest.fixture(autouse=True)
def stall_after_five_minutes(settings):
    settings.RUN_STALL_SECONDS = 300


def started_run(campaign, *, at=None):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.Status.RUNNING)
    at = at or timezone.now()
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=at - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due(now=at) == [run.pk]
    run.refresh_from_db()
    return run


def drain(run, chunk_size=2):
    while runs.run_distribute_chunk(run_id=run.pk, chunk_size=chunk_size) == runs.MORE:
        pass
    run.refresh_from_db()
    return run


# --- lost chunk task recovery ------------------------------------------------------------


@pytest.mark.django_db
def test_chunk_task_is_acked_late_and_requeued_when_its_worker_dies():
    assert tasks.run_distribute.name == "promotions.run_distribute"
    assert tasks.run_distribute.acks_late is True
    assert tasks.run_distribute.reject_on_worker_lost is True


@pytest.mark.django_db
def test_running_run_silent_past_the_stall_limit_is_enqueued_again_and_completes_once(
    no_broker, django_capture_on_commit_callbacks
):
    campaign = campaign_past(members=5)
    started = timezone.now() - datetime.timedelta(minutes=20)
    run = started_run(campaign, at=started)
    # One chunk went through, then the worker died and its next chunk task was lost.
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.MORE
    CampaignRunPartition.objects.filter(run=run).update(heartbeat_at=started + datetime.timedelta(minutes=1))
    no_broker.clear()

    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeps.runs_recover_stalled(now=now) == [run.pk]
    assert no_broker == [run.pk]
    assert CampaignRunPartition.objects.get(run=run).heartbeat_at == now
    # Just re-enqueued: the next sweep leaves it alone.
    assert sweeps.runs_recover_stalled(now=now + datetime.timedelta(seconds=30)) == []

    drain(run)
    assert (run.status, run.processed, run.granted) == (CampaignRun.Status.COMPLETED, 5, 5)
    per_profile = list(Lot.objects.filter(campaign=campaign).values_list("profile_id", flat=True))
    assert len(per_profile) == 5 == len(set(per_profile))
    # The lost original delivery turning up late changes nothing.
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == runs.DONE
    assert Lot.objects.filter(campaign=campaign).count() == 5
    assert Grant.objects.filter(campaign=campaign).count() == 5


@pytest.mark.django_db
def test_each_committed_chunk_keeps_the_run_from_counting_as_stalled():
    campaign = campaign_past(members=5)
    run = started_run(campaign, at=timezone.now() - datetime.timedelta(minutes=20))
    assert sweeps.runs_recover_stalled() == [run.pk]  # silent since it started 20 minutes ago
    CampaignRunPartition.objects.filter(run=run).update(heartbeat_at=timezone.now() - datetime.timedelta(minutes=20))
    runs.run_distribute_chunk(run_id=run.pk, chunk_size=2)
    assert sweeps.runs_recover_stalled() == []
    assert sweeps.runs_recover_stalled(now=timezone.now() + datetime.timedelta(minutes=6)) == [run.pk]


@pytest.mark.django_db
def test_stalled_run_of_a_paused_campaign_waits_for_resume(no_broker, django_capture_on_commit_callbacks):
    campaign = campaign_past(members=5)
    run = started_run(campaign, at=timezone.now() - datetime.timedelta(minutes=20))
    runs.run_distribute_chunk(run_id=run.pk, chunk_size=2)
    services.campaign_pause(campaign=campaign, actor=None)
    later = timezone.now() + datetime.timedelta(hours=1)
    assert sweeps.runs_recover_stalled(now=later) == []
    no_broker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_resume(campaign=campaign, actor=None)
    assert no_broker == [run.pk]
    # Resume sent a fresh chunk task: the sweep does not add a second one.
    assert sweeps.runs_recover_stalled() == []


@pytest.mark.django_db
def test_pending_completed_and_cancelled_runs_are_never_recovered():
    campaign = campaign_past(members=1)
    long_ago = timezone.now() - datetime.timedelta(days=1)
    statuses = (CampaignRun.Status.PENDING, CampaignRun.Status.COMPLETED, CampaignRun.Status.CANCELLED)
    for minutes, status in enumerate(statuses):
        CampaignRun.objects.create(
            campaign=campaign,
            scheduled_for=long_ago + datetime.timedelta(minutes=minutes),
            status=status,
            heartbeat_at=long_ago,
        )
    assert sweeps.runs_recover_stalled() == []


@pytest.mark.django_db(transaction=True)
def test_run_whose_chunk_is_working_right_now_is_skipped_by_the_sweep():
    """A slow chunk holds its partition's row lock; the sweep (SKIP LOCKED) neither waits nor re-enqueues it."""
    campaign = campaign_past(members=3)
    run = started_run(campaign, at=timezone.now() - datetime.timedelta(minutes=20))
    locked, release = threading.Event(), threading.Event()

    def slow_chunk():
        try:
            with transaction.atomic():
                CampaignRunPartition.objects.select_for_update().get(run=run)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    worker = threading.Thread(target=slow_chunk)
    worker.start()
    try:
        assert locked.wait(timeout=30)
        assert sweeps.runs_recover_stalled() == []
    finally:
        release.set()
        worker.join()
    assert sweeps.runs_recover_stalled() == [run.pk]


@pytest.mark.django_db
def test_dispatch_beat_task_also_recovers_stalled_runs(no_broker, django_capture_on_commit_callbacks):
    campaign = campaign_past(members=2)
    run = started_run(campaign, at=timezone.now() - datetime.timedelta(minutes=20))
    no_broker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_due_runs() == 0
    assert no_broker == [run.pk]


# --- profiles rewarded ---------------------------------------------------------------------


def recurring_reward_again(members):
    today = timezone.localdate()
    return campaign_past(
        members=members,
        delivery=C.Delivery.RECURRING,
        frequency=C.Frequency.DAILY,
        run_time=datetime.time(9, 0),
        recurrence_start=today - datetime.timedelta(days=5),
        recurrence_end=today + datetime.timedelta(days=30),
        reward_again=True,
    )


@pytest.mark.django_db
def test_profile_rewarded_on_two_runs_counts_once_in_profiles_rewarded(marketer_client):
    campaign = recurring_reward_again(members=3)
    first = started_run(campaign, at=timezone.now() - datetime.timedelta(days=1))
    drain(first)
    newcomer = ProfileFactory()
    campaign.custom_list.members.create(profile=newcomer)
    second = CampaignRun.objects.get(campaign=campaign, status=CampaignRun.Status.PENDING)
    CampaignRun.objects.filter(pk=second.pk).update(scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    sweeps.runs_dispatch_due()
    drain(CampaignRun.objects.get(pk=second.pk))

    # 3 rewarded twice + 1 newcomer once: 7 rewards, 4 profiles.
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 7
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 4
    row = marketer_client.get("/campaigns/").content.decode().split(f'<tr id="campaign-{campaign.pk}">')[1]
    assert '<td class="num">4</td>' in row.split("</tr>")[0]
    detail = marketer_client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert '<div class="value" id="stat-profiles-rewarded">4</div>' in detail
    assert '<div class="value" id="stat-rewards-given">7</div>' in detail


@pytest.mark.django_db
def test_profiles_rewarded_count_costs_one_query_per_chunk_whatever_its_size(django_assert_max_num_queries):
    campaign = recurring_reward_again(members=40)
    drain(started_run(campaign, at=timezone.now() - datetime.timedelta(days=1)), chunk_size=40)
    second = CampaignRun.objects.get(campaign=campaign, status=CampaignRun.Status.PENDING)
    CampaignRun.objects.filter(pk=second.pk).update(scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    sweeps.runs_dispatch_due()
    with django_assert_max_num_queries(30) as small:
        runs.run_distribute_chunk(run_id=second.pk, chunk_size=5)
    with django_assert_max_num_queries(30) as large:
        runs.run_distribute_chunk(run_id=second.pk, chunk_size=30)
    assert len(large.captured_queries) <= len(small.captured_queries)
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 40
