"""Coupon CSV imports run in the background: checked first, stored all or nothing, with progress."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core import db
from coupons import services
from coupons.models import CodeBatch, Coupon, CouponCode
from tests.coupons.factories import BulkCouponFactory


def _csv(content: bytes, name="codes.csv"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_the_import_screen_queues_the_file_and_the_task_stores_every_code(marketer_client, media):
    from accounts.models import Outbox

    coupon = BulkCouponFactory()
    response = marketer_client.post(f"/coupons/{coupon.pk}/import/", {"file": _csv(b"code\nA1\nA2\nA3\n")}, follow=True)
    body = response.content.decode()
    assert "Importing 3 codes from codes.csv." in body
    assert 'role="progressbar"' in body and "every 1s" in body
    batch = coupon.batches.get()
    # The task is owed in the transaction that stored the batch (accounts/outbox.py).
    assert list(Outbox.objects.values_list("topic", "payload")) == [("coupons.import_codes", {"args": [batch.pk]})]
    assert (batch.status, batch.requested, batch.done) == ("pending", 3, 0)
    assert not CouponCode.objects.filter(coupon=coupon).exists()  # nothing stored inside the request
    progress = marketer_client.get(f"/coupons/{coupon.pk}/progress/", headers={"HX-Request": "true"})
    assert "0 of 3 codes (0%)" in progress.content.decode()

    batch = services.code_import_run(batch_id=batch.pk)
    assert (batch.status, batch.done) == ("completed", 3)
    assert sorted(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True)) == ["A1", "A2", "A3"]
    coupon.refresh_from_db()
    assert coupon.codes_total == 3
    done = marketer_client.get(f"/coupons/{coupon.pk}/progress/", headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"
    # A second delivery of the task finds the batch completed and stores nothing more.
    assert services.code_import_run(batch_id=batch.pk).status == "completed"
    assert CouponCode.objects.filter(coupon=coupon).count() == 3


@pytest.mark.django_db
def test_a_large_file_is_checked_by_the_task_and_its_problems_shown_with_nothing_stored(
    marketer_client, media, monkeypatch
):
    monkeypatch.setattr(services.csv_import, "SYNC_IMPORT_CHECK_BYTES", 0)
    coupon = BulkCouponFactory()
    response = marketer_client.post(f"/coupons/{coupon.pk}/import/", {"file": _csv(b"A1\nB 2\nA1\n")}, follow=True)
    assert "Checking and importing codes.csv." in response.content.decode()
    batch = services.code_import_run(batch_id=coupon.batches.get().pk)
    assert batch.status == "failed"
    assert batch.error.splitlines() == [
        "Line 2: “B 2” is not a valid code (1–64 characters, no spaces).",
        "Line 3: code “A1” repeats line 1.",
    ]
    assert not CouponCode.objects.filter(coupon=coupon).exists()
    coupon.refresh_from_db()
    assert coupon.codes_total == 0
    page = marketer_client.get(f"/coupons/{coupon.pk}/").content.decode()
    assert "Line 3: code “A1” repeats line 1." in page
    assert "refused; no code was stored" in page


@pytest.mark.django_db
def test_codes_added_to_the_series_meanwhile_refuse_the_whole_file(media):
    coupon = BulkCouponFactory()
    batch = services.code_import_start(coupon=coupon, upload=_csv(b"N1\nN2\nN3\n"), actor=None)
    # Meanwhile N2 entered the series another way (say an import queued just before this one).
    CouponCode.objects.create(coupon=coupon, code="N2")
    Coupon.objects.filter(pk=coupon.pk).update(codes_total=1)
    batch = services.code_import_run(batch_id=batch.pk)
    assert batch.status == "failed"
    assert batch.error == "Line 2: code “N2” is already in this series."
    assert list(CouponCode.objects.filter(coupon=coupon).values_list("code", flat=True)) == ["N2"]
    coupon.refresh_from_db()
    assert coupon.codes_total == 1


@pytest.mark.django_db
def test_an_import_cannot_start_while_codes_are_being_added(media):
    coupon = BulkCouponFactory()
    services.code_import_start(coupon=coupon, upload=_csv(b"X1\n"), actor=None)
    with pytest.raises(ValidationError) as exc:
        services.code_import_start(coupon=coupon, upload=_csv(b"X2\n"), actor=None)
    assert exc.value.messages == [services.ERR_GENERATION_RUNNING]


def _watch_progress(monkeypatch, batch_id, *, fail_at=None):
    """Record what the coupon page (another thread, another session) shows at each step."""
    seen = []
    page = ThreadPoolExecutor(max_workers=1)
    original = db.LiveProgress.__call__

    def look():
        try:
            batch = CodeBatch.objects.get(pk=batch_id)
            return batch.done, batch.percent, CouponCode.objects.filter(coupon_id=batch.coupon_id).count()
        finally:
            connection.close()

    def reporting(self, done):
        original(self, done)
        seen.append(page.submit(look).result())
        if fail_at is not None and done >= fail_at:
            raise RuntimeError("worker lost mid-way")

    monkeypatch.setattr(db.LiveProgress, "__call__", reporting)
    return seen, page


@pytest.mark.django_db(transaction=True)
def test_progress_moves_for_other_sessions_while_no_code_is_visible_until_the_end(monkeypatch, media):
    monkeypatch.setattr(services.csv_import, "IMPORT_CHUNK", 2)
    coupon = BulkCouponFactory()
    batch = services.code_import_start(coupon=coupon, upload=_csv(b"P1\nP2\nP3\nP4\nP5\nP6\n"), actor=None)
    seen, page = _watch_progress(monkeypatch, batch.pk)
    try:
        batch = services.code_import_run(batch_id=batch.pk)
    finally:
        page.shutdown()
    assert batch.status == "completed"
    assert seen == [(2, 33, 0), (4, 66, 0), (6, 100, 0)]
    assert CouponCode.objects.filter(coupon=coupon).count() == 6
    assert not list((media / "progress").glob("*.txt"))


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_way_stores_nothing_and_fails_the_batch(monkeypatch, media):
    monkeypatch.setattr(services.csv_import, "IMPORT_CHUNK", 2)
    coupon = BulkCouponFactory()
    batch = services.code_import_start(coupon=coupon, upload=_csv(b"F1\nF2\nF3\nF4\nF5\n"), actor=None)
    seen, page = _watch_progress(monkeypatch, batch.pk, fail_at=4)
    try:
        batch = services.code_import_run(batch_id=batch.pk)
    finally:
        page.shutdown()
    assert seen[-1][0] == 4
    assert (batch.status, batch.done, batch.error) == ("failed", 0, services.ERR_IMPORT_UNEXPECTED)
    assert not CouponCode.objects.filter(coupon=coupon).exists()
    coupon.refresh_from_db()
    assert (coupon.codes_total, coupon.status) == (0, Coupon.Status.ACTIVE)
