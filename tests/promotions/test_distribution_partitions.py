"""A run split into partitions, processed by several workers at once (issue #18).

Real concurrent transactions on PostgreSQL: each "worker" is a thread with its own database
connection taking chunk tasks from a shared queue (the broker) and running the task body
`promotions.run_distribute`, which sends the partition's next chunk back to the queue, as Celery
would. (The same with real Celery worker processes on Redis: tests/promotions/test_distribution_e2e.py.)
"""

import collections
import datetime
import threading
import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from coupons import services as coupon_services
from coupons.models import CodeAssignment
from promotions import selectors, services, tasks
from promotions.engine import grants, runs, sweeps
from promotions.models import Campaign, CampaignRun, CampaignRunPartition, Grant
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.helpers import campaign_past
from wallets.models import Lot, Transaction

pytestmark = pytest.mark.django_db(transaction=True)
C = Campaign


class Broker:
    """The chunk tasks waiting, in order; `drop(task)` loses a task instead of queueing it."""

    def __init__(self):
        self.tasks = collections.deque()
        self.lock = threading.Lock()
        self.busy = 0
        self.drop = lambda task: False
        self.sent = []

    def send(self, run_id, partition=None, chunk=None):
        task = (run_id, partition, chunk)
        with self.lock:
            self.sent.append(task[:2])
            if not self.drop(task[:2]):
                self.tasks.append(task)

    def take(self):
        with self.lock:
            if self.tasks:
                self.busy += 1
                return self.tasks.popleft()
            return None if self.busy == 0 else False

    def done(self):
        with self.lock:
            self.busy -= 1


@pytest.fixture
def broker(monkeypatch):
    broker = Broker()
    monkeypatch.setattr(runs, "chunk_enqueue", broker.send)
    return broker


@pytest.fixture(autouse=True)
def small_partitions(settings):
    settings.RUN_CHUNK_SIZE = 4
    settings.RUN_PARTITIONS = 4


def work(broker, workers=4, *, on_error=None):
    """Worker threads run chunk tasks until the queue is empty and no one is working.

    A task that raises is lost (as with a worker killed before it could hand it back)."""
    errors = []

    def worker():
        try:
            while True:
                task = broker.take()
                if task is None:
                    return
                if task is False:
                    time.sleep(0.005)
                    continue
                try:
                    tasks.run_distribute(*task)
                except Exception as exc:  # noqa: BLE001 - a crashed chunk: its task is lost
                    errors.append(exc)
                finally:
                    broker.done()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def in_flight(monkeypatch, delay=0.03):
    """Count the chunks rewarding at the same moment (each made a little slower to overlap)."""
    real = grants.reward_profiles
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def rewarding(**kwargs):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        try:
            time.sleep(delay)
            return real(**kwargs)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(grants, "reward_profiles", rewarding)
    return state


def publish(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.Status.RUNNING)
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due() == [run.pk]
    return run


def assert_each_rewarded_once(campaign, members):
    run = CampaignRun.objects.get(campaign=campaign)
    assert Grant.objects.filter(campaign=campaign).count() == members
    assert Grant.objects.filter(campaign=campaign, granted=True, occurrence=f"run:{run.pk}").count() == members
    per_profile = Lot.objects.filter(campaign=campaign).values("profile_id").annotate(n=Count("id"))
    assert per_profile.count() == members and not per_profile.filter(n__gt=1).exists()
    assert Transaction.objects.filter(lot__campaign=campaign).aggregate(total=Sum("points"))["total"] == 100 * members
    return run


def test_run_is_cut_into_partitions_of_about_equal_size_covering_the_audience(broker):
    campaign = campaign_past(members=40)
    run = publish(campaign)
    parts = list(CampaignRunPartition.objects.filter(run=run).order_by("index"))
    assert len(parts) == settings.RUN_PARTITIONS == 4  # 40 profiles, chunks of 4: capped at 4
    member_ids = sorted(campaign.custom_list.members.values_list("profile_id", flat=True))
    sizes = [sum(1 for pid in member_ids if p.start < pid and (p.end is None or pid <= p.end)) for p in parts]
    assert sizes == [10, 10, 10, 10]  # every member in exactly one partition, as many in each
    assert parts[0].start == 0 and parts[-1].end is None  # newcomers with higher ids are still reached
    assert sorted(broker.sent) == [(run.pk, index) for index in range(4)]  # one chain per partition

    small = campaign_past(members=6)  # less than two chunks: one partition, no quantile query
    assert CampaignRunPartition.objects.filter(run=publish(small)).count() == 1


def test_four_workers_process_the_partitions_of_one_run_at_once_and_reward_each_profile_once(broker, monkeypatch):
    flight = in_flight(monkeypatch)
    members = 48
    campaign = campaign_past(members=members)
    run = publish(campaign)
    assert work(broker) == []

    # The partitions' chunks overlapped: nothing in a chunk's locks serialises one run's partitions.
    assert flight["max"] >= 2
    run = assert_each_rewarded_once(campaign, members)
    parts = CampaignRunPartition.objects.filter(run=run)
    sums = parts.aggregate(processed=Sum("processed"), granted=Sum("granted"), rewarded=Sum("rewarded"))
    assert (run.status, run.total, run.processed, run.granted, run.rewarded) == ("completed", 48, 48, 48, 48)
    assert sums == {"processed": 48, "granted": 48, "rewarded": 48}  # the run's totals are the partitions' sum
    assert not parts.filter(done=False).exists()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rewarded_profiles) == (C.Status.COMPLETED, 48)


def test_a_partition_that_fills_its_chunks_exactly_ends_with_its_last_chunk_not_an_empty_task(broker):
    """8 profiles, chunks of 4: two partitions of one full chunk each. Each partition's one task
    ends it, and the run is Completed as the last commits: no task per partition is sent only to
    find nothing (a broker round trip each, seconds at the end of a run)."""
    campaign = campaign_past(members=8)
    run = publish(campaign)
    assert CampaignRunPartition.objects.filter(run=run).count() == 2
    assert work(broker, workers=2) == []
    assert sorted(broker.sent) == [(run.pk, 0), (run.pk, 1)]
    run.refresh_from_db()
    assert (run.status, run.processed, run.granted) == ("completed", 8, 8)


def test_the_last_two_partitions_finishing_at_the_same_moment_complete_the_run_exactly_once(broker, monkeypatch):
    real_done, real_finish = runs._partition_done, runs._finish
    finished, met = [], []
    for _ in range(8):
        both = threading.Barrier(2)

        def done_together(part, campaign, both=both):
            # Each waits in its own open transaction, its last chunk written. When both transactions
            # drew the same grant-rollup shard (txid % 4), the second chunk's insert waits for the
            # first's commit and never reaches the barrier: then they do not meet this time.
            try:
                both.wait(timeout=3)
                met.append(part.pk)
            except threading.BrokenBarrierError:
                pass
            return real_done(part, campaign)

        monkeypatch.setattr(runs, "_partition_done", done_together)
        monkeypatch.setattr(runs, "_finish", lambda run, c: finished.append(run.pk) or real_finish(run, c))
        campaign = campaign_past(members=10)  # two partitions of 5: chunks of 4, then 1 (done)
        run = publish(campaign)
        assert CampaignRunPartition.objects.filter(run=run).count() == 2
        assert work(broker, workers=2) == []

        run = assert_each_rewarded_once(campaign, 10)
        assert (run.status, run.processed, run.granted, run.rewarded) == ("completed", 10, 10, 10)  # added once
        campaign.refresh_from_db()
        assert (campaign.status, campaign.rewarded_profiles) == (C.Status.COMPLETED, 10)
        assert finished.count(run.pk) == 1
    assert met  # in at least one of the eight runs both last chunks were in _partition_done at once


def test_pause_in_the_middle_stops_every_partition_and_resume_finishes_the_run(broker, monkeypatch):
    in_flight(monkeypatch)
    members = 64
    campaign = campaign_past(members=members)
    run = publish(campaign)
    paused = {}

    def pause_once_under_way():
        while selectors.runs_progress([CampaignRun.objects.get(pk=run.pk)])[0].processed < 12:
            time.sleep(0.005)
        services.campaign_pause(campaign=campaign, actor=None)
        paused["grants"] = Grant.objects.filter(campaign=campaign).count()
        connection.close()

    pauser = threading.Thread(target=pause_once_under_way)
    pauser.start()
    assert work(broker) == []
    pauser.join()

    # Pause waited for the chunks in flight; after it committed, no partition gave anything.
    given = Grant.objects.filter(campaign=campaign).count()
    assert 12 <= paused["grants"] == given < members
    assert Lot.objects.filter(campaign=campaign).count() == given
    assert CampaignRun.objects.get(pk=run.pk).status == CampaignRun.Status.RUNNING
    halted = CampaignRunPartition.objects.filter(run=run, done=False)
    assert halted.count() >= 2  # the pause caught several partitions mid-way, not one chain
    assert sweeps.runs_recover_stalled(now=timezone.now() + datetime.timedelta(hours=1)) == []  # waits

    broker.sent.clear()
    services.campaign_resume(campaign=campaign, actor=None)
    assert sorted(broker.sent) == sorted((run.pk, p.index) for p in halted)  # every halted chain, once
    assert work(broker) == []
    run = assert_each_rewarded_once(campaign, members)
    assert (run.status, run.processed, run.granted) == ("completed", members, members)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rewarded_profiles) == (C.Status.COMPLETED, members)


def test_stop_in_the_middle_cancels_the_run_with_the_partitions_counts_settled(broker, monkeypatch):
    in_flight(monkeypatch)
    members = 64
    campaign = campaign_past(members=members)
    run = publish(campaign)

    def stop_once_under_way():
        while selectors.runs_progress([CampaignRun.objects.get(pk=run.pk)])[0].processed < 12:
            time.sleep(0.005)
        services.campaign_stop(campaign=campaign, actor=None)
        connection.close()

    stopper = threading.Thread(target=stop_once_under_way)
    stopper.start()
    assert work(broker) == []
    stopper.join()

    given = Grant.objects.filter(campaign=campaign, granted=True).count()
    assert 12 <= given < members
    run.refresh_from_db()
    assert (run.status, run.processed, run.granted, run.rewarded) == ("cancelled", given, given, given)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rewarded_profiles) == (C.Status.STOPPED, given)
    assert selectors.campaign_rewarded(campaign) == given  # nothing counted twice once settled


def test_duplicate_chunk_tasks_of_every_partition_on_four_workers_give_nothing_twice(broker, monkeypatch):
    in_flight(monkeypatch, delay=0.01)
    real_send = broker.send

    def send_twice(run_id, partition=None, chunk=None):
        real_send(run_id, partition, chunk)
        if partition is not None:  # every partition's every chunk task delivered twice
            real_send(run_id, partition, chunk)

    monkeypatch.setattr(runs, "chunk_enqueue", send_twice)
    members = 40
    campaign = campaign_past(members=members)
    run = publish(campaign)
    assert work(broker) == []
    run = assert_each_rewarded_once(campaign, members)
    assert (run.status, run.processed, run.granted, run.rewarded) == ("completed", 40, 40, 40)
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 40
    # A copy of a task that already ran ends at once (it carries the partition's chunk count), so
    # each partition keeps one chain: 4 first tasks and 8 next ones (chunks of 4, 4, 2), twice each.
    assert list(CampaignRunPartition.objects.filter(run=run).values_list("chunks", flat=True)) == [3, 3, 3, 3]
    assert len(broker.sent) == 2 * (4 + 8)


def test_a_lost_and_a_crashed_partition_are_picked_up_by_the_sweep_and_the_run_completes_once(broker, monkeypatch):
    in_flight(monkeypatch, delay=0.01)
    members = 48
    campaign = campaign_past(members=members)
    run = publish(campaign)
    # Partition 1's second chunk task never reaches a worker; partition 2's second chunk crashes
    # after the catalogue wrote its lots (rolled back) and its task is lost with the worker.
    lost = {"sent": 0, "n": 0}

    def lose_partition_one(task):
        if task == (run.pk, 1):
            lost["sent"] += 1
            if lost["sent"] == 2:
                lost["n"] += 1
                return True
        return False

    broker.drop = lose_partition_one
    real_insert = grants._grants_insert
    crashes = []

    part = CampaignRunPartition.objects.get(run=run, index=2)
    first = campaign.custom_list.members.filter(profile_id__gt=part.start).order_by("profile_id")[0].profile_id

    def crash_partition_two(ids, outcome, **kwargs):
        if not crashes and first < ids[0] <= part.end:  # partition 2, past its first chunk
            crashes.append(ids)
            raise RuntimeError("worker killed")
        return real_insert(ids, outcome, **kwargs)

    monkeypatch.setattr(grants, "_grants_insert", crash_partition_two)
    errors = work(broker)
    assert [str(e) for e in errors] == ["worker killed"] and lost["n"] == 1
    owed = CampaignRunPartition.objects.filter(run=run, done=False)
    assert sorted(owed.values_list("index", flat=True)) == [1, 2]
    assert CampaignRun.objects.get(pk=run.pk).status == CampaignRun.Status.RUNNING
    assert not Lot.objects.filter(campaign=campaign, profile_id__in=crashes[0]).exists()  # no half chunk

    broker.sent.clear()
    stall = datetime.timedelta(seconds=settings.RUN_STALL_SECONDS + 1)
    assert sweeps.runs_recover_stalled(now=timezone.now() + stall) == [run.pk]
    assert sorted(broker.sent) == [(run.pk, 1), (run.pk, 2)]  # only the partitions owed
    assert work(broker) == []
    run = assert_each_rewarded_once(campaign, members)
    assert (run.status, run.processed, run.granted) == ("completed", 48, 48)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.rewarded_profiles) == (C.Status.COMPLETED, 48)


def test_two_partitioned_runs_sharing_one_bulk_coupon_never_give_a_code_twice(broker, monkeypatch):
    in_flight(monkeypatch, delay=0.01)
    coupon = BulkCouponFactory(name="Shared")
    coupon_services.code_generation_start(
        coupon=coupon, code_format="alphanumeric", length=8, prefix="P-", suffix="", count=50, actor=None, run_now=True
    )
    campaigns = [
        campaign_past(
            members=32, reward_type=C.RewardType.COUPON, coupon_kind=C.CouponKind.BULK, coupon=coupon, wallet=None
        )
        for _ in range(2)
    ]
    both = [publish(campaign) for campaign in campaigns]
    assert all(CampaignRunPartition.objects.filter(run=run).count() == 4 for run in both)
    assert work(broker) == []

    codes = list(CodeAssignment.objects.values_list("code", flat=True))
    assert len(codes) == 50 == len(set(codes))  # every code given once, across both runs
    for campaign, run in zip(campaigns, both, strict=True):
        holders = CodeAssignment.objects.filter(campaign=campaign).values_list("profile_id", flat=True)
        assert len(holders) == len(set(holders))
        run.refresh_from_db()
        assert run.status == "completed" and run.processed == 32 and run.granted == len(holders)
    out = Grant.objects.filter(granted=False, reason="Bulk codes exhausted").count()
    assert out == 64 - 50
    assert any(run.error == runs.MSG_CODES_OUT for run in CampaignRun.objects.all())


def test_a_running_runs_progress_is_the_sum_of_its_partitions_on_every_screen(
    broker, marketer_client, api_client, marketer
):
    campaign = campaign_past(members=40, user=marketer)
    run = publish(campaign)
    # Two of the four partitions have done a chunk each (on different workers, say).
    assert runs.run_distribute_chunk(run_id=run.pk, partition=0, chunk=0) == runs.MORE
    assert runs.run_distribute_chunk(run_id=run.pk, partition=2, chunk=0) == runs.MORE
    assert CampaignRun.objects.get(pk=run.pk).processed == 0  # the run row is written once, at the end

    partial = marketer_client.get(f"/campaigns/{campaign.pk}/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert "8 of 40 processed · 8 granted" in partial and 'aria-valuenow="20"' in partial
    # The stat cards come along out of band: they follow the chunks, not only the end of the run.
    stats = partial.split('id="campaign-stats" hx-swap-oob="true">')[1]
    assert '<div class="value" id="stat-rewards-given">8</div>' in stats
    assert '<div class="value" id="stat-profiles-rewarded">8</div>' in stats
    assert '<div class="value" id="stat-points">800</div>' in stats
    row = marketer_client.get("/campaigns/").content.decode().split(f'<tr id="campaign-{campaign.pk}">')[1]
    assert '<td class="num">8</td>' in row.split("</tr>")[0]
    detail = api_client.get(f"/api/1/promo/campaigns/{campaign.pk}").json()["campaign"]
    assert detail["rewardedProfiles"] == 8
    assert (detail["progress"]["processed"], detail["progress"]["granted"], detail["progress"]["total"]) == (8, 8, 40)
    listed = api_client.get("/api/1/promo/campaigns", {"sort": "-rewarded"}).json()["records"]
    assert listed[0]["id"] == campaign.pk and listed[0]["rewardedProfiles"] == 8

    # A copy of partition 0's first task, delivered late, does nothing.
    assert runs.run_distribute_chunk(run_id=run.pk, partition=0, chunk=0) == runs.DONE
    assert Grant.objects.filter(campaign=campaign).count() == 8


def test_a_recurring_run_due_while_the_previous_one_runs_waits_for_it(broker):
    today = timezone.localdate()
    campaign = campaign_past(
        members=3,
        delivery=C.Delivery.RECURRING,
        frequency=C.Frequency.DAILY,
        run_time=datetime.time(9, 0),
        recurrence_start=today - datetime.timedelta(days=5),
        recurrence_end=today + datetime.timedelta(days=30),
        reward_again=True,
    )
    first = publish(campaign)
    second = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due() == []  # the first still runs: the runs never overlap
    assert CampaignRun.objects.get(pk=second.pk).status == CampaignRun.Status.PENDING
    while runs.run_distribute_chunk(run_id=first.pk) == runs.MORE:
        pass
    assert sweeps.runs_dispatch_due() == [second.pk]
