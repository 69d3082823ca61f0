import re

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Outbox
from coupons import codegen, services, tasks
from coupons.models import CodeBatch, CouponCode, CouponEvent
from tests.coupons.factories import BulkCouponFactory, CouponFactory

pytestmark = pytest.mark.django_db

LOOK_ALIKES = set("0O1IL")


def _generate(coupon, **kwargs):
    params = {"code_format": "alphanumeric", "length": 8, "prefix": "", "suffix": "", "count": 100, "actor": None}
    params.update(kwargs)
    return services.code_generation_start(coupon=coupon, run_now=True, **params)


def test_alphabets_leave_out_look_alike_characters():
    assert not LOOK_ALIKES & set(codegen.ALPHANUMERIC)
    assert not set("OIL") & set(codegen.ALPHABETIC)
    assert set(codegen.NUMERIC) == set("0123456789")
    assert len(codegen.ALPHANUMERIC) == 31


@pytest.mark.parametrize(
    ("code_format", "charset"),
    [("numeric", codegen.NUMERIC), ("alphabetic", codegen.ALPHABETIC), ("alphanumeric", codegen.ALPHANUMERIC)],
)
def test_generated_codes_follow_format_length_prefix_and_suffix(code_format, charset):
    coupon = BulkCouponFactory()
    batch = _generate(coupon, code_format=code_format, length=6, prefix="FEST-", suffix="-X", count=500)
    codes = list(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True))
    assert batch.status == CodeBatch.Status.COMPLETED and batch.done == 500
    assert len(codes) == len(set(codes)) == 500
    pattern = re.compile(rf"^FEST-[{charset}]{{6}}-X$")
    assert all(pattern.match(code) for code in codes)
    coupon.refresh_from_db()
    assert coupon.codes_total == 500


def test_a_count_the_format_cannot_produce_is_refused_with_the_number_it_can():
    coupon = BulkCouponFactory()
    with pytest.raises(ValidationError) as exc:
        _generate(coupon, code_format="numeric", length=4, count=10_001)
    assert exc.value.messages == [
        "This format can produce only 10,000 more unique codes in this series; "
        "ask for at most 10,000 or use longer codes."
    ]
    assert not CouponCode.objects.filter(coupon=coupon).exists()
    assert not CodeBatch.objects.filter(coupon=coupon).exists()


def test_the_whole_capacity_of_a_format_can_be_generated_and_then_nothing_more():
    coupon = BulkCouponFactory()
    _generate(coupon, code_format="numeric", length=4, count=9_000)
    _generate(coupon, code_format="numeric", length=4, count=1_000)  # dense: only 1,000 left to find
    assert CouponCode.objects.filter(coupon=coupon).count() == 10_000
    with pytest.raises(ValidationError, match="only 0 more unique codes"):
        _generate(coupon, code_format="numeric", length=4, count=1)


def test_capacity_counts_only_codes_of_the_same_format_and_affixes():
    coupon = BulkCouponFactory()
    _generate(coupon, code_format="numeric", length=4, prefix="A", count=10_000)
    batch = _generate(coupon, code_format="numeric", length=4, prefix="B", count=10_000)
    assert batch.done == 10_000


def test_generation_is_refused_for_single_code_coupons():
    with pytest.raises(ValidationError, match="only be added to a bulk code series"):
        _generate(CouponFactory())


def test_generation_runs_in_chunks_through_the_task_and_records_history(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services.code_generation, "GENERATE_CHUNK", 300)
    coupon = BulkCouponFactory()

    def owed():
        return [
            p["args"][0]
            for p in Outbox.objects.filter(topic="coupons.generate_codes").values_list("payload", flat=True)
        ]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch = services.code_generation_start(
            coupon=coupon, code_format="alphabetic", length=7, prefix="", suffix="", count=1000, actor=None
        )
    assert batch.status == CodeBatch.Status.PENDING
    assert len(callbacks) == 1 and owed() == [batch.pk]  # owed in the transaction, woken after commit
    tasks.generate_codes(batch.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.percent) == (CodeBatch.Status.RUNNING, 300, 30)
    while owed():
        tasks.generate_codes(owed()[0])
    batch.refresh_from_db()
    assert (batch.status, batch.done) == (CodeBatch.Status.COMPLETED, 1000)
    assert CouponCode.objects.filter(coupon=coupon).count() == 1000
    # Running the task again (a redelivery) adds nothing.
    tasks.generate_codes(batch.pk)
    assert CouponCode.objects.filter(coupon=coupon).count() == 1000
    assert list(CouponEvent.objects.filter(coupon=coupon).values_list("action", flat=True)) == ["generated", "generate"]


def test_a_second_generation_is_refused_while_one_runs():
    coupon = BulkCouponFactory()
    services.code_generation_start(
        coupon=coupon, code_format="alphabetic", length=7, prefix="", suffix="", count=10, actor=None
    )
    with pytest.raises(ValidationError, match="already running"):
        _generate(coupon)
