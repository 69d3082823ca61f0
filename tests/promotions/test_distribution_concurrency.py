"""Real concurrent transactions on PostgreSQL: two workers on one run, two dispatchers at once."""

import datetime
import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from core import db
from coupons import services as coupon_services
from coupons.models import CodeAssignment
from promotions.engine import grants, runs, sweeps
from promotions.models import Campaign, CampaignRun, Grant
from segments.models import Event
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.helpers import campaign_past
from wallets.models import Lot

pytestmark = pytest.mark.django_db(transaction=True)
C = Campaign


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: None)


def in_threads(target, count=2):
    barrier = threading.Barrier(count)
    errors = []

    def work():
        try:
            barrier.wait()
            target()
        except Exception as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def running_run(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=C.Status.RUNNING)
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
    assert sweeps.runs_dispatch_due() == [run.pk]
    return run


def drain(run_id):
    while runs.run_distribute_chunk(run_id=run_id, chunk_size=3) == runs.MORE:
        pass


def test_two_workers_on_the_same_run_never_double_credit():
    campaign = campaign_past(members=12)
    run = running_run(campaign)
    in_threads(lambda: drain(run.pk))
    profile_ids = list(Lot.objects.filter(campaign=campaign).values_list("profile_id", flat=True))
    assert len(profile_ids) == 12 == len(set(profile_ids))
    run.refresh_from_db()
    assert (run.status, run.processed, run.granted) == (CampaignRun.Status.COMPLETED, 12, 12)
    campaign.refresh_from_db()
    assert campaign.rewarded_profiles == 12


def test_two_workers_on_the_same_coupon_run_never_double_assign():
    coupon = BulkCouponFactory(name="Shared")
    coupon_services.code_generation_start(
        coupon=coupon, code_format="alphanumeric", length=8, prefix="X-", suffix="", count=8, actor=None, run_now=True
    )
    campaign = campaign_past(
        members=10, reward_type=C.RewardType.COUPON, coupon_kind=C.CouponKind.BULK, coupon=coupon, wallet=None
    )
    run = running_run(campaign)
    in_threads(lambda: drain(run.pk))
    codes = list(CodeAssignment.objects.values_list("code", flat=True))
    holders = list(CodeAssignment.objects.values_list("profile_id", flat=True))
    assert len(codes) == 8 == len(set(codes)) == len(set(holders))
    assert Grant.objects.filter(campaign=campaign, granted=False, reason="Bulk codes exhausted").count() == 2


def test_concurrent_dispatchers_start_each_run_once():
    runs = []
    for _ in range(4):
        campaign = campaign_past(members=1, status=C.Status.SCHEDULED)
        runs.append(
            CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
        )
    started = []
    lock = threading.Lock()

    def dispatch():
        ids = sweeps.runs_dispatch_due()
        with lock:
            started.extend(ids)

    in_threads(dispatch, count=3)
    assert sorted(started) == sorted(run.pk for run in runs)
    assert set(CampaignRun.objects.values_list("status", flat=True)) == {CampaignRun.Status.RUNNING}


FK_MODES = pytest.mark.parametrize("skip_row_triggers", [False, True], ids=["fk-triggers", "fk-locks-set-based"])


@FK_MODES
def test_both_foreign_key_modes_reward_the_run_and_leave_triggers_on(monkeypatch, skip_row_triggers):
    """With or without the privilege to skip per-row FK triggers, a run writes the same rows."""
    monkeypatch.setattr(db, "row_triggers_skippable", lambda: skip_row_triggers)
    campaign = campaign_past(members=7)
    run = running_run(campaign)
    drain(run.pk)
    run.refresh_from_db()
    assert (run.status, run.granted) == (CampaignRun.Status.COMPLETED, 7)
    members = set(campaign.custom_list.members.values_list("profile_id", flat=True))
    assert set(Lot.objects.filter(campaign=campaign).values_list("profile_id", flat=True)) == members
    assert set(Grant.objects.filter(campaign=campaign, granted=True).values_list("profile_id", flat=True)) == members
    events = Event.objects.filter(name="Points Credited", profile_id__in=members)
    assert events.count() == 7
    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone()[0] == "origin"


def test_skipping_fk_triggers_a_chunk_still_locks_its_profiles_until_commit(monkeypatch):
    """Without the per-row FK triggers the chunk holds its profiles FOR KEY SHARE itself until it
    commits, so a concurrent delete of one waits (here: times out) instead of leaving grants,
    lots and events pointing at nothing. (With the triggers, the deferred checks would fail the
    chunk at COMMIT instead.)"""
    monkeypatch.setattr(db, "row_triggers_skippable", lambda: True)
    campaign = campaign_past(members=3)
    run = running_run(campaign)
    victim = campaign.custom_list.members.order_by("profile_id").first().profile_id
    inserted, release = threading.Event(), threading.Event()
    real_insert = grants._grants_insert

    def insert_then_wait(*args, **kwargs):
        new = real_insert(*args, **kwargs)
        inserted.set()
        release.wait(10)
        return new

    monkeypatch.setattr(grants, "_grants_insert", insert_then_wait)
    outcome = []

    def chunk():
        try:
            outcome.append(runs.run_distribute_chunk(run_id=run.pk, chunk_size=10))
        finally:
            connection.close()

    worker = threading.Thread(target=chunk)
    worker.start()
    try:
        assert inserted.wait(10)
        with pytest.raises(OperationalError, match="lock timeout"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '300ms'")
            cursor.execute("DELETE FROM segments_profile WHERE id = %s", [victim])
    finally:
        release.set()
        worker.join()
    assert outcome == [runs.DONE]
    assert Grant.objects.filter(campaign=campaign, profile_id=victim, granted=True).exists()
