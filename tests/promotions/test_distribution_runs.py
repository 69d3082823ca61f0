"""Runs of past-behaviour / custom-list campaigns: dispatch, chunks, idempotency, pause, codes out, recurrence."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from coupons.models import CodeAssignment, Coupon
from promotions import services
from promotions.engine import grants, runs, sweeps
from promotions.models import Campaign, CampaignRun, Grant
from tests.promotions.factories import VoucherListFactory
from tests.promotions.helpers import bulk_coupon, campaign_past
from tests.vouchers.helpers import load_codes
from vouchers.models import VoucherAssignment
from wallets.models import Lot

pytestmark = pytest.mark.django_db
C = Campaign
R = Grant.Reason


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Record enqueued chunks instead of sending them to a broker."""
    sent = []
    monkeypatch.setattr(runs, "chunk_enqueue", lambda run_id, *chain: sent.append(run_id))
    return sent


def published(campaign, **status):
    campaign.status = status.get("status", C.Status.RUNNING)
    campaign.save()
    return CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(seconds=1))


def start(campaign):
    run = published(campaign)
    assert sweeps.runs_dispatch_due() == [run.pk]
    run.refresh_from_db()
    return run


def drain(run, chunk_size=2):
    outcomes = []
    while True:
        outcome = runs.run_distribute_chunk(run_id=run.pk, chunk_size=chunk_size)
        outcomes.append(outcome)
        if outcome != runs.MORE:
            break
    run.refresh_from_db()
    return outcomes


def test_run_rewards_every_member_once_with_ledger_and_completes(no_broker, django_capture_on_commit_callbacks):
    campaign = campaign_past(members=5)
    with django_capture_on_commit_callbacks(execute=True):
        run = start(campaign)
    assert run.status == CampaignRun.Status.RUNNING and run.total == 5
    assert no_broker == [run.pk]
    assert drain(run) == ["more", "more", "done"]
    assert (run.status, run.processed, run.granted) == (CampaignRun.Status.COMPLETED, 5, 5)
    occurrence = f"run:{run.pk}"
    lots = Lot.objects.filter(campaign=campaign, occurrence=occurrence)
    assert lots.count() == 5 and {lot.amount for lot in lots} == {Decimal("100")}
    assert Grant.objects.filter(campaign=campaign, occurrence=occurrence, granted=True, points=100).count() == 5
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED and campaign.rewarded_profiles == 5
    assert campaign.end_reason == "Distribution finished"


def test_chunk_task_delivered_twice_changes_nothing(no_broker):
    campaign = campaign_past(members=3)
    run = start(campaign)
    drain(run, chunk_size=10)
    before = (Lot.objects.count(), Grant.objects.count())
    assert runs.run_distribute_chunk(run_id=run.pk) == "done"
    assert grants.reward_profiles(
        campaign=campaign,
        profile_ids=list(campaign.custom_list.members.values_list("profile_id", flat=True)),
        occurrence=f"run:{run.pk}",
    ) == (0, 0, 0)
    assert (Lot.objects.count(), Grant.objects.count()) == before
    run.refresh_from_db()
    assert (run.processed, run.granted) == (3, 3)


def test_crash_after_catalogue_call_rolls_back_and_rerun_rewards_each_once(monkeypatch):
    campaign = campaign_past(members=5)
    run = start(campaign)
    real_insert = grants._grants_insert
    calls = {"n": 0}

    def crash_on_second_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(grants, "_grants_insert", crash_on_second_chunk)
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == "more"
    with pytest.raises(RuntimeError):
        runs.run_distribute_chunk(run_id=run.pk, chunk_size=2)
    assert Lot.objects.filter(campaign=campaign).count() == 2
    drain(run)
    assert run.status == CampaignRun.Status.COMPLETED
    per_profile = Lot.objects.filter(campaign=campaign).values_list("profile_id", flat=True)
    assert len(per_profile) == 5 == len(set(per_profile))
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 5
    assert (run.processed, run.granted) == (5, 5)


def test_pause_stops_between_chunks_and_resume_continues(no_broker, django_capture_on_commit_callbacks):
    campaign = campaign_past(members=5)
    run = start(campaign)
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == "more"
    services.campaign_pause(campaign=campaign, actor=None)
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == "halted"
    assert Grant.objects.filter(campaign=campaign).count() == 2
    no_broker.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_resume(campaign=campaign, actor=None)
    assert no_broker == [run.pk]
    drain(run)
    assert Grant.objects.filter(campaign=campaign, granted=True).count() == 5
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED


def test_stop_cancels_the_run_between_chunks():
    campaign = campaign_past(members=5)
    run = start(campaign)
    runs.run_distribute_chunk(run_id=run.pk, chunk_size=2)
    services.campaign_stop(campaign=campaign, actor=None)
    assert runs.run_distribute_chunk(run_id=run.pk, chunk_size=2) == "done"
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.CANCELLED
    assert Grant.objects.filter(campaign=campaign).count() == 2


def test_bulk_codes_exhausted_for_the_rest():
    coupon = bulk_coupon(3)
    campaign = campaign_past(
        members=5, reward_type=C.RewardType.COUPON, coupon_kind=C.CouponKind.BULK, coupon=coupon, wallet=None
    )
    run = start(campaign)
    drain(run)
    granted = Grant.objects.filter(campaign=campaign, granted=True)
    assert granted.count() == 3
    codes = set(CodeAssignment.objects.filter(campaign=campaign).values_list("code", flat=True))
    assert set(granted.values_list("code", flat=True)) == codes and len(codes) == 3
    assert list(Grant.objects.filter(granted=False).values_list("reason", flat=True)) == [R.BULK_CODES_EXHAUSTED] * 2
    assert run.error == runs.MSG_CODES_OUT
    assert (run.processed, run.granted) == (5, 3)


def test_inactive_coupon_reason():
    coupon = bulk_coupon(3)
    Coupon.objects.filter(pk=coupon.pk).update(status=Coupon.Status.PAUSED)
    campaign = campaign_past(members=2, reward_type=C.RewardType.COUPON, coupon=coupon, coupon_kind="bulk")
    drain(start(campaign))
    assert set(Grant.objects.values_list("granted", "reason")) == {(False, R.INACTIVE_COUPON)}
    assert not CodeAssignment.objects.exists()


def test_vouchers_given_then_exhausted():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["V1", "V2"])
    campaign = campaign_past(members=3, reward_type=C.RewardType.VOUCHER, voucher_list=voucher_list, wallet=None)
    drain(start(campaign))
    assert sorted(Grant.objects.filter(granted=True).values_list("code", flat=True)) == ["V1", "V2"]
    assert list(Grant.objects.filter(granted=False).values_list("reason", flat=True)) == [R.VOUCHER_CODES_EXHAUSTED]
    assert VoucherAssignment.objects.count() == 2


def test_inactive_voucher_list_reason():
    voucher_list = VoucherListFactory(status="paused")
    campaign = campaign_past(members=2, reward_type=C.RewardType.VOUCHER, voucher_list=voucher_list, wallet=None)
    drain(start(campaign))
    assert set(Grant.objects.values_list("granted", "reason")) == {(False, R.INACTIVE_VOUCHER_LIST)}


def test_inactive_wallet_and_invalid_configuration_reasons():
    campaign = campaign_past(members=2)
    campaign.wallet.is_active = False
    campaign.wallet.save()
    drain(start(campaign))
    assert set(Grant.objects.values_list("granted", "reason")) == {(False, R.INACTIVE_WALLET)}
    other = campaign_past(members=1, wallet=None)
    drain(start(other))
    assert set(Grant.objects.filter(campaign=other).values_list("reason", flat=True)) == {R.INVALID_WALLET}


def test_invalid_points_reason():
    campaign = campaign_past(members=2, flat_points=Decimal("0.2"))
    drain(start(campaign))
    assert set(Grant.objects.values_list("granted", "reason")) == {(False, R.INVALID_POINTS)}
    assert not Lot.objects.exists()


def test_query_count_per_chunk_does_not_grow_with_chunk_size(django_assert_max_num_queries):
    campaign = campaign_past(members=60)
    run = start(campaign)
    # A constant set: the chunk, the run heartbeat, and the system events (one insert and two
    # catalogue reads; the first chunk also writes the catalogue rows of `Points Credited`).
    with django_assert_max_num_queries(30) as small:
        runs.run_distribute_chunk(run_id=run.pk, chunk_size=5)
    with django_assert_max_num_queries(30) as large:
        runs.run_distribute_chunk(run_id=run.pk, chunk_size=50)
    assert len(large.captured_queries) <= len(small.captured_queries)


# --- dispatching and recurrence -----------------------------------------------------------


def recurring(**overrides):
    today = timezone.localdate()
    values = {
        "delivery": C.Delivery.RECURRING,
        "frequency": C.Frequency.DAILY,
        "run_time": datetime.time(9, 0),
        "recurrence_start": today - datetime.timedelta(days=5),
        "recurrence_end": today + datetime.timedelta(days=30),
        "status": C.Status.SCHEDULED,
    }
    values.update(overrides)
    return campaign_past(members=3, **values)


def test_recurring_start_creates_the_next_run_and_a_missed_outage_runs_once():
    campaign = recurring()
    now = timezone.now()
    # A beat outage left two overdue runs: only the latest runs, the older is cancelled as missed.
    old = CampaignRun.objects.create(campaign=campaign, scheduled_for=now - datetime.timedelta(days=1, minutes=5))
    latest = CampaignRun.objects.create(campaign=campaign, scheduled_for=now - datetime.timedelta(minutes=5))
    assert sweeps.runs_dispatch_due(now=now) == [latest.pk]
    old.refresh_from_db()
    assert (old.status, old.error) == (CampaignRun.Status.CANCELLED, sweeps.MSG_MISSED)
    upcoming = CampaignRun.objects.get(campaign=campaign, status=CampaignRun.Status.PENDING)
    assert now < upcoming.scheduled_for <= now + datetime.timedelta(days=1)
    campaign.refresh_from_db()
    assert campaign.status == C.Status.RUNNING
    # Dispatching again at once starts nothing new and plans nothing twice.
    assert sweeps.runs_dispatch_due(now=now) == []
    assert CampaignRun.objects.filter(campaign=campaign).count() == 3
    drain(CampaignRun.objects.get(pk=latest.pk))
    campaign.refresh_from_db()
    assert campaign.status == C.Status.RUNNING  # the next occurrence is still to come


def test_reward_again_off_excludes_earlier_grants_and_on_includes_them():
    for again, expected in ((False, 1), (True, 4)):
        campaign = recurring(reward_again=again)
        first = CampaignRun.objects.create(
            campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(hours=1)
        )
        sweeps.runs_dispatch_due()
        drain(first)
        from tests.segments.factories import ProfileFactory

        campaign.custom_list.members.create(profile=ProfileFactory())
        second = CampaignRun.objects.get(campaign=campaign, status=CampaignRun.Status.PENDING)
        CampaignRun.objects.filter(pk=second.pk).update(scheduled_for=timezone.now() - datetime.timedelta(seconds=1))
        sweeps.runs_dispatch_due()
        drain(second)
        assert Grant.objects.filter(campaign=campaign, occurrence=f"run:{second.pk}").count() == expected


def test_no_run_after_the_end_date_completes_the_campaign():
    today = timezone.localdate()
    campaign = recurring(recurrence_end=today - datetime.timedelta(days=1))
    run = CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() - datetime.timedelta(days=1))
    sweeps.runs_dispatch_due()
    assert not CampaignRun.objects.filter(campaign=campaign, status=CampaignRun.Status.PENDING).exists()
    drain(run)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.end_reason) == (C.Status.COMPLETED, runs.END_NO_RUNS)


def test_paused_campaign_runs_wait_and_stopped_ones_are_cancelled():
    paused = campaign_past(members=1)
    run = published(paused, status=C.Status.PAUSED)
    stopped = campaign_past(members=1)
    gone = published(stopped, status=C.Status.STOPPED)
    assert sweeps.runs_dispatch_due() == []
    run.refresh_from_db()
    gone.refresh_from_db()
    assert run.status == CampaignRun.Status.PENDING and gone.status == CampaignRun.Status.CANCELLED


def test_future_runs_are_not_dispatched():
    campaign = campaign_past(members=1, status=C.Status.SCHEDULED)
    CampaignRun.objects.create(campaign=campaign, scheduled_for=timezone.now() + datetime.timedelta(minutes=5))
    assert sweeps.runs_dispatch_due() == []


def test_connection_vendor_is_postgresql():
    assert connection.vendor == "postgresql"
