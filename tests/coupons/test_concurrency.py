"""Real concurrent transactions on PostgreSQL: the guarantees of SPEC 6.2 for coupon codes."""

import threading
from collections import Counter

import pytest
from django.db import connection

from core import db
from coupons import services
from coupons.models import CodeAssignment, Coupon, CouponCode
from promotions.models import Campaign
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory, CouponFactory
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)

WORKERS = 6


def _run_concurrently(target, args_list):
    barrier = threading.Barrier(len(args_list))
    errors = []

    def run(args):
        try:
            barrier.wait()
            target(*args)
        except Exception as exc:  # noqa: BLE001 - surfaced to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(args,)) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _assert_each_code_given_once(coupon):
    codes = Counter(CodeAssignment.objects.filter(coupon=coupon).values_list("coupon_code_id", flat=True))
    assert codes and max(codes.values()) == 1
    coupon.refresh_from_db()
    assigned = CodeAssignment.objects.filter(coupon=coupon).count()
    assert coupon.codes_assigned == assigned
    assert CouponCode.objects.filter(coupon=coupon, assigned_at__isnull=False).count() == assigned


def test_workers_assigning_the_same_profiles_at_once_give_each_one_code():
    coupon = add_codes(BulkCouponFactory(), 400)
    campaign = Campaign.objects.create(name="Run")
    ids = [p.pk for p in ProfileFactory.create_batch(150)]

    def work(order):
        services.code_assign_bulk(coupon=coupon, profile_ids=order, campaign=campaign, occurrence="run:1")

    # Every worker tries the whole audience (a retried task racing the original), in different orders.
    _run_concurrently(work, [(ids if i % 2 else list(reversed(ids)),) for i in range(WORKERS)])
    per_profile = Counter(
        CodeAssignment.objects.filter(coupon=coupon, campaign=campaign, occurrence="run:1").values_list(
            "profile_id", flat=True
        )
    )
    assert set(per_profile) == set(ids)
    assert max(per_profile.values()) == 1
    _assert_each_code_given_once(coupon)


@pytest.mark.parametrize("skip_row_triggers", [False, True], ids=["fk-triggers", "fk-locks-set-based"])
def test_both_claim_modes_give_each_known_profile_one_code_and_leave_triggers_on(monkeypatch, skip_row_triggers):
    monkeypatch.setattr(db, "row_triggers_skippable", lambda: skip_row_triggers)
    coupon = add_codes(BulkCouponFactory(), 80)
    campaign = Campaign.objects.create(name="Run")
    ids = [p.pk for p in ProfileFactory.create_batch(50)]

    def work(order):
        services.code_assign_bulk(coupon=coupon, profile_ids=order, campaign=campaign, occurrence="run:1")
        with connection.cursor() as cursor:
            cursor.execute("SHOW session_replication_role")
            assert cursor.fetchone()[0] == "origin"

    # An unknown profile id is skipped, not an error at commit.
    _run_concurrently(work, [(ids + [10**12] if i % 2 else list(reversed(ids)),) for i in range(4)])
    per_profile = Counter(CodeAssignment.objects.filter(coupon=coupon).values_list("profile_id", flat=True))
    assert set(per_profile) == set(ids) and max(per_profile.values()) == 1
    _assert_each_code_given_once(coupon)


def test_workers_serving_different_profiles_share_a_series_until_it_runs_out():
    coupon = add_codes(BulkCouponFactory(), 100)
    campaign = Campaign.objects.create(name="Run")
    ids = [p.pk for p in ProfileFactory.create_batch(180)]

    def work(part):
        services.code_assign_bulk(coupon=coupon, profile_ids=part, campaign=campaign, occurrence="run:1")

    _run_concurrently(work, [(ids[i::WORKERS],) for i in range(WORKERS)])
    assert CodeAssignment.objects.filter(coupon=coupon).count() == 100
    _assert_each_code_given_once(coupon)


def test_live_assignments_from_many_threads_never_give_a_code_twice():
    coupon = add_codes(BulkCouponFactory(), 60)
    campaign = Campaign.objects.create(name="Live")
    profiles = ProfileFactory.create_batch(48)
    got = []

    def work(part):
        for profile in part:
            got.append(services.code_assign(coupon=coupon, profile=profile, campaign=campaign, occurrence="event:1"))

    _run_concurrently(work, [(profiles[i::WORKERS],) for i in range(WORKERS)])
    assert all(got) and len(got) == 48
    _assert_each_code_given_once(coupon)


def test_two_campaigns_sharing_a_series_at_once_never_get_the_same_code():
    coupon = add_codes(BulkCouponFactory(), 300)
    one, two = Campaign.objects.create(name="One"), Campaign.objects.create(name="Two")
    ids = [p.pk for p in ProfileFactory.create_batch(100)]

    def work(campaign, part):
        services.code_assign_bulk(coupon=coupon, profile_ids=part, campaign=campaign, occurrence="run:1")

    args = [(campaign, ids[i::3]) for campaign in (one, two) for i in range(3)]
    _run_concurrently(work, args)
    codes_one = set(CodeAssignment.objects.filter(campaign=one).values_list("code", flat=True))
    codes_two = set(CodeAssignment.objects.filter(campaign=two).values_list("code", flat=True))
    assert len(codes_one) == len(codes_two) == 100
    assert not codes_one & codes_two
    _assert_each_code_given_once(coupon)


def test_single_code_total_limit_is_never_exceeded_by_concurrent_assignment():
    coupon = CouponFactory(code="FIRST50", total_limit=50)
    campaign = Campaign.objects.create(name="Live")
    profiles = ProfileFactory.create_batch(90)

    def work(part):
        for profile in part:
            services.code_assign(coupon=coupon, profile=profile, campaign=campaign, occurrence="event:1")

    _run_concurrently(work, [(profiles[i::WORKERS],) for i in range(WORKERS)])
    coupon.refresh_from_db()
    assert CodeAssignment.objects.filter(coupon=coupon).count() == 50
    assert coupon.codes_assigned == 50


def test_concurrent_redemptions_of_one_bulk_code_redeem_it_once():
    coupon = add_codes(BulkCouponFactory(), 1)
    profile = ProfileFactory()
    assignment = services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence="x")
    outcomes = []

    def work():
        try:
            services.coupon_redeem(profile=profile, code=assignment.code)
            outcomes.append("ok")
        except services.RedemptionRefused as refusal:
            outcomes.append(refusal.reason)

    _run_concurrently(work, [() for _ in range(WORKERS)])
    assert sorted(outcomes) == ["already_redeemed"] * (WORKERS - 1) + ["ok"]
    coupon.refresh_from_db()
    assert coupon.codes_redeemed == 1


def test_concurrent_redemptions_of_a_single_code_respect_the_total_limit():
    coupon = CouponFactory(code="TEN", total_limit=10, per_user_limit=1)
    profiles = ProfileFactory.create_batch(10)
    for profile in profiles:
        services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence="x")
    Coupon.objects.filter(pk=coupon.pk).update(total_limit=4)  # lowered after assignment
    outcomes = []

    def work(profile):
        try:
            services.coupon_redeem(profile=profile, code="TEN")
            outcomes.append("ok")
        except services.RedemptionRefused as refusal:
            outcomes.append(refusal.reason)

    _run_concurrently(work, [(p,) for p in profiles])
    assert Counter(outcomes) == {"ok": 4, "limit_reached": 6}
    coupon.refresh_from_db()
    assert coupon.codes_redeemed == 4
