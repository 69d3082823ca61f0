"""End to end with real Celery worker and beat processes on Redis against the test database.

- a scheduled campaign fires at its time (the real clock) and rewards its audience;
- a recurring campaign in Europe/Berlin: beat and worker run at a clock set just before its
  run on the eve of the spring-forward change; the next run is created at 09:00 local (CEST);
- a worker SIGKILLed mid-distribution, then a new worker: every profile rewarded exactly once
  (the lost chunk task comes back through the stalled-run sweep);
- chunk tasks delivered several times, to two workers at once: nothing is given twice.
"""

import datetime
import time
import zoneinfo
from decimal import Decimal

import pytest
import redis
import time_machine
from django.apps import apps
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.account import account_get
from config.celery import app as celery_app
from core.beat import periodic_task_ensure
from promotions import selectors, services
from promotions.models import Campaign, CampaignRun, Grant
from segments.models import CustomList, CustomListMember, Profile, sample_bucket_for
from tests import harness
from tests.promotions.helpers import campaign_past
from wallets.models import Lot, Transaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
C = Campaign
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
# Small chunks, so a modest audience takes many chunk tasks; a run silent for 2 s counts as stalled.
WORKER_ENV = {"RUN_CHUNK_SIZE": "25", "RUN_STALL_SECONDS": "2"}


@pytest.fixture(autouse=True)
def beat_every_second():
    # The flush between transactional tests empties the beat tables; put the entry back, ticking fast.
    periodic_task_ensure(
        apps, name="promotions: dispatch due campaign runs", task="promotions.dispatch_due_runs", every_seconds=1
    )
    harness.purge_redis(harness.redis_url())
    yield
    harness.purge_redis(harness.redis_url())


def beat(**kwargs):
    return harness.celery_process("beat", extra_args=("--max-interval=1",), **kwargs)


def big_list(size: int) -> CustomList:
    """A custom list of `size` new profiles, written in bulk."""
    custom_list = CustomList.objects.create(name=f"Big list {size}", size=size)
    identities = [f"bulk-{size}-{i}" for i in range(size)]
    Profile.objects.bulk_create(
        [Profile(identity=identity, sample_bucket=sample_bucket_for(identity)) for identity in identities]
    )
    ids = Profile.objects.filter(identity__in=identities).values_list("pk", flat=True)
    CustomListMember.objects.bulk_create([CustomListMember(custom_list=custom_list, profile_id=pk) for pk in ids])
    return custom_list


def assert_each_member_rewarded_once(campaign: Campaign, run: CampaignRun, members: int) -> None:
    occurrence = f"run:{run.pk}"
    grants = Grant.objects.filter(campaign=campaign)
    assert grants.count() == members
    assert grants.filter(granted=True, occurrence=occurrence, points=100).count() == members
    lots = Lot.objects.filter(campaign=campaign)
    assert lots.count() == members
    assert lots.values("profile_id").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    ledger = Transaction.objects.filter(lot__campaign=campaign)
    assert ledger.count() == members
    assert ledger.aggregate(total=Sum("points"))["total"] == Decimal(100 * members)
    run.refresh_from_db()
    assert (run.status, run.total, run.processed, run.granted) == ("completed", members, members, members)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rewarded_profiles) == (C.Status.COMPLETED, members)


def run_of(campaign: Campaign) -> CampaignRun:
    return CampaignRun.objects.get(campaign=campaign)


def progress_of(campaign: Campaign) -> CampaignRun | None:
    """The campaign's run with its counters as of now (a running run's partitions added up)."""
    return next(iter(selectors.runs_progress(list(CampaignRun.objects.filter(campaign=campaign)))), None)


def processed(campaign: Campaign) -> int:
    run = progress_of(campaign)
    return run.processed if run else 0


def test_scheduled_campaign_fires_at_its_time_and_rewards_its_audience():
    # The builder schedules to the minute: the next whole minute at least 5 s away.
    now = timezone.now()
    send_at = now.replace(second=0, microsecond=0) + datetime.timedelta(minutes=1)
    if send_at - now < datetime.timedelta(seconds=5):
        send_at += datetime.timedelta(minutes=1)
    campaign = campaign_past(members=4, delivery=C.Delivery.LATER, scheduled_at=send_at)
    services.campaign_publish(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.SCHEDULED and run_of(campaign).scheduled_for == send_at

    with harness.celery_process("worker", env=WORKER_ENV), beat():
        harness.wait_for(
            lambda: Campaign.objects.filter(pk=campaign.pk, status=C.Status.COMPLETED).exists(),
            timeout=120,
            what="the scheduled campaign to complete",
        )
    run = run_of(campaign)
    assert run.started_at >= send_at  # not a moment before its time
    assert not Grant.objects.filter(campaign=campaign, created_at__lt=send_at).exists()
    assert_each_member_rewarded_once(campaign, run, 4)


def test_recurring_run_on_the_eve_of_spring_forward_plans_the_next_at_the_same_berlin_wall_time():
    account = account_get()
    account.timezone = "Europe/Berlin"
    account.save()
    campaign = campaign_past(
        members=3,
        delivery=C.Delivery.RECURRING,
        frequency=C.Frequency.DAILY,
        run_time=datetime.time(9, 0),
        recurrence_start=datetime.date(2027, 3, 27),  # Saturday; clocks go forward early on Sunday the 28th
        recurrence_end=datetime.date(2027, 3, 31),
        reward_again=True,
    )
    # Published at 08:59:20 local (CET, UTC+1) on the Saturday.
    with time_machine.travel(datetime.datetime(2027, 3, 27, 7, 59, 20, tzinfo=UTC), tick=False):
        services.campaign_publish(campaign=campaign, actor=None)
    first = run_of(campaign)
    assert first.scheduled_for == datetime.datetime(2027, 3, 27, 8, 0, tzinfo=UTC)  # 09:00 CET

    clock = datetime.datetime(2027, 3, 27, 7, 59, 50, tzinfo=UTC)
    with harness.celery_process("worker", env=WORKER_ENV, clock=clock), beat(clock=clock):
        harness.wait_for(
            lambda: CampaignRun.objects.filter(pk=first.pk, status=CampaignRun.Status.COMPLETED).exists(),
            timeout=90,
            what="the Saturday run to complete",
        )
    first.refresh_from_db()
    assert first.started_at >= first.scheduled_for  # started by beat at its (process) time
    assert first.granted == 3
    upcoming = CampaignRun.objects.get(campaign=campaign, status=CampaignRun.Status.PENDING)
    # Sunday 09:00 local is now CEST (UTC+2): 07:00 UTC, 23 hours after the Saturday run.
    assert upcoming.scheduled_for == datetime.datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    assert upcoming.scheduled_for.astimezone(BERLIN).time() == datetime.time(9, 0)
    assert upcoming.scheduled_for - first.scheduled_for == datetime.timedelta(hours=23)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.RUNNING


def test_worker_killed_mid_distribution_then_a_new_worker_rewards_everyone_exactly_once():
    members = 1500  # 60 chunks of 25
    campaign = campaign_past(custom_list=big_list(members))
    services.campaign_publish(campaign=campaign, actor=None)
    with beat():
        with harness.celery_process("worker", env=WORKER_ENV, name="-doomed") as doomed:
            harness.wait_for(
                lambda: processed(campaign) >= 100,
                timeout=60,
                interval=0.05,
                what="the distribution to get under way",
            )
            doomed.kill()  # SIGKILL to our own worker process: no warm shutdown, no ack
            doomed.wait()
        interrupted = progress_of(campaign)
        assert interrupted.status == CampaignRun.Status.RUNNING
        assert 0 < interrupted.processed < members
        assert Lot.objects.filter(campaign=campaign).count() == interrupted.processed  # no half chunk

        with harness.celery_process("worker", env=WORKER_ENV, name="-fresh"):
            started = time.monotonic()
            harness.wait_for(
                lambda: processed(campaign) > interrupted.processed,
                timeout=60,
                interval=0.1,
                what="the run to resume",
            )
            # Stall limit (2 s here) + beat tick (1 s) + the worker's start-up, not minutes.
            assert time.monotonic() - started < 20
            harness.wait_for(
                lambda: Campaign.objects.filter(pk=campaign.pk, status=C.Status.COMPLETED).exists(),
                timeout=90,
                what="the new worker to finish the run",
            )
    assert_each_member_rewarded_once(campaign, run_of(campaign), members)


def deliver_chunk_task(run_id: int, times: int) -> None:
    """Put `times` extra copies of the chunk task for `run_id` on the Redis broker."""
    with celery_app.connection_for_write(harness.redis_url()) as connection:
        for _ in range(times):
            celery_app.send_task("promotions.run_distribute", args=[run_id], connection=connection)


def broker_idle() -> bool:
    client = redis.Redis.from_url(harness.redis_url())
    return client.llen("celery") == 0 and client.hlen("unacked") == 0


def test_chunk_tasks_delivered_again_to_two_workers_give_nothing_twice():
    members = 400
    campaign = campaign_past(custom_list=big_list(members))
    services.campaign_publish(campaign=campaign, actor=None)
    with (
        beat(),
        harness.celery_process("worker", env=WORKER_ENV, name="-one"),
        harness.celery_process("worker", env=WORKER_ENV, name="-two"),
    ):
        run = harness.wait_for(
            lambda: (processed(campaign) > 0) and run_of(campaign),
            timeout=60,
            interval=0.05,
            what="the distribution to get under way",
        )
        deliver_chunk_task(run.pk, times=3)  # three more chains racing the first, on two workers
        harness.wait_for(
            lambda: Campaign.objects.filter(pk=campaign.pk, status=C.Status.COMPLETED).exists(),
            timeout=90,
            what="the run to complete",
        )
        assert_each_member_rewarded_once(campaign, run, members)
        deliver_chunk_task(run.pk, times=2)  # late duplicates of a finished run
        harness.wait_for(broker_idle, timeout=30, what="the workers to consume the late duplicates")
    assert_each_member_rewarded_once(campaign, run, members)
