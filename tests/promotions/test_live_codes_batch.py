"""A live batch claims its codes set-based (issue #18): one claim statement for all of the batch's
triggers, not one per occurrence; concurrent batches sharing a code pool never give a code twice."""

import threading
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from coupons.models import CodeAssignment
from promotions.engine import live
from promotions.models import Campaign, Grant
from tests.promotions.factories import VoucherListFactory
from tests.promotions.helpers import bulk_coupon
from tests.promotions.live_support import grants, running_live, store
from tests.segments.factories import ProfileFactory
from tests.vouchers.helpers import load_codes
from vouchers.models import VoucherAssignment

C = Campaign
R = Grant.Reason


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("segments.live.events_stored", lambda *, event_ids: None)


def coupon_campaign(coupon, event="Charged", **overrides):
    return running_live(
        reward_type=C.RewardType.COUPON,
        coupon=coupon,
        coupon_kind="bulk",
        wallet=None,
        triggers=[{"event": event, "filters": []}],
        **overrides,
    )


def claims(queries) -> int:
    return sum(1 for q in queries if "INSERT INTO coupons_codeassignment" in q["sql"])


@pytest.mark.django_db
def test_a_batch_of_many_triggers_claims_its_codes_in_one_statement_in_trigger_order():
    coupon = bulk_coupon(30)
    campaign = coupon_campaign(coupon, max_codes_per_user=2)
    profiles = ProfileFactory.create_batch(12)
    # 36 triggers: each profile three times; the third of each is over the per-user cap.
    events = [store(p) for _ in range(3) for p in profiles]
    with CaptureQueriesContext(connection) as ctx:
        live.events_process(event_ids=[e.pk for e in events])
    assert claims(ctx.captured_queries) == 1
    rows = grants(campaign)
    assert [g.reason for g in rows] == [""] * 24 + [R.USER_COUPON_LIMIT] * 12
    given = dict(CodeAssignment.objects.filter(campaign=campaign).values_list("occurrence", "code"))
    assert {g.occurrence: g.code for g in rows if g.granted} == given and len(set(given.values())) == 24
    coupon.refresh_from_db()
    assert coupon.codes_assigned == 24


@pytest.mark.django_db
def test_when_codes_run_out_mid_batch_the_earlier_triggers_have_them_and_the_rest_are_told():
    coupon = bulk_coupon(5)
    campaign = coupon_campaign(coupon, max_codes_per_user=1)
    one, two = ProfileFactory(), ProfileFactory()
    others = ProfileFactory.create_batch(5)
    # one's second trigger is over its cap; others[3:] find no code left.
    events = [store(one), store(one), store(two), *(store(p) for p in others)]
    live.events_process(event_ids=[e.pk for e in events])
    assert [g.reason for g in grants(campaign)] == ["", R.USER_COUPON_LIMIT, "", "", "", ""] + [
        R.BULK_CODES_EXHAUSTED
    ] * 2
    assert CodeAssignment.objects.filter(campaign=campaign).count() == 5
    campaign.refresh_from_db()
    assert campaign.status == C.Status.COMPLETED


@pytest.mark.django_db
def test_a_voucher_batch_claims_in_one_statement_too():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, [f"W{n}" for n in range(10)])
    campaign = running_live(reward_type=C.RewardType.VOUCHER, voucher_list=voucher_list, wallet=None)
    events = [store() for _ in range(12)]
    with CaptureQueriesContext(connection) as ctx:
        live.events_process(event_ids=[e.pk for e in events])
    assert sum(1 for q in ctx.captured_queries if "INSERT INTO vouchers_voucherassignment" in q["sql"]) == 1
    assert [g.reason for g in grants(campaign)] == [""] * 10 + [R.VOUCHER_CODES_EXHAUSTED] * 2
    assert VoucherAssignment.objects.filter(campaign=campaign).values("code").distinct().count() == 10


@pytest.mark.django_db(transaction=True)
def test_two_live_batches_sharing_a_pool_at_once_never_give_a_code_twice():
    coupon = bulk_coupon(60)
    first, second = coupon_campaign(coupon, "Charged"), coupon_campaign(coupon, "Viewed")
    batches = [
        [store(name="Charged").pk for _ in range(40)],
        [store(name="Viewed").pk for _ in range(40)],
    ]
    barrier = threading.Barrier(2)
    errors = []

    def work(event_ids):
        try:
            barrier.wait()
            live.events_process(event_ids=event_ids)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(ids,)) for ids in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assignments = CodeAssignment.objects.filter(coupon=coupon)
    per_code = Counter(assignments.values_list("coupon_code_id", flat=True))
    assert len(per_code) == 60 and max(per_code.values()) == 1  # every code given, none twice
    granted = [g for c in (first, second) for g in grants(c, granted=True)]
    assert len(granted) == 60
    assert Counter(g.reason for c in (first, second) for g in grants(c, granted=False)) == {R.BULK_CODES_EXHAUSTED: 20}
    held = {(a.campaign_id, a.occurrence): a.code for a in assignments}
    assert {(g.campaign_id, g.occurrence): g.code for g in granted} == held
    coupon.refresh_from_db()
    assert coupon.codes_assigned == 60
