"""Processing progress is visible to other sessions while the all-or-nothing run is open."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tests.vouchers.factories import VoucherListFactory
from tests.vouchers.helpers import csv_file, load_codes
from vouchers import services
from vouchers.models import VoucherCode, VoucherUpload, VoucherUploadProgress

Status = VoucherUpload.Status


def _confirmed_upload(voucher_list, codes):
    upload = services.voucher_upload_create(
        voucher_list=voucher_list, file=csv_file("\n".join(codes) + "\n"), uploaded_by=None
    )
    upload = services.voucher_upload_validate(upload=upload)
    return services.voucher_upload_confirm(upload=upload, actor=None)


class Watcher:
    """Another session (the partner's page) looking while the processing transaction runs."""

    def __init__(self, upload, voucher_list):
        self.upload, self.voucher_list = upload, voucher_list
        self.conn = connections.create_connection(DEFAULT_DB_ALIAS)
        self.seen: list[tuple[int, int, bool]] = []

    def look(self) -> None:
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT done FROM vouchers_voucheruploadprogress WHERE upload_id = %s", [self.upload.pk])
            done = cursor.fetchone()[0]
            cursor.execute(
                "SELECT COUNT(*) FROM vouchers_vouchercode WHERE voucher_list_id = %s", [self.voucher_list.pk]
            )
            codes = cursor.fetchone()[0]
            # The upload row is held by the processing transaction the whole time.
            cursor.execute("SET lock_timeout = '50ms'")
            try:
                cursor.execute("SELECT id FROM vouchers_voucherupload WHERE id = %s FOR UPDATE", [self.upload.pk])
                locked = False
            except Exception:
                locked = True
        self.seen.append((done, codes, locked))

    def close(self):
        self.conn.close()


def _watch(monkeypatch, watcher, *, fail_after_done=None):
    original = services.upload_processing._ProgressReporter.__call__

    def reporting(self, done):
        original(self, done)
        watcher.look()
        if fail_after_done is not None and done >= fail_after_done:
            raise RuntimeError("worker lost mid-way")

    monkeypatch.setattr(services.upload_processing._ProgressReporter, "__call__", reporting)


@pytest.mark.django_db(transaction=True)
def test_progress_advances_across_chunks_while_the_list_stays_unchanged(monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(services.staging, "PROCESS_CHUNK", 3)
    voucher_list = VoucherListFactory()
    upload = _confirmed_upload(voucher_list, [f"P{n}" for n in range(10)])
    assert upload.progress_total == 20
    watcher = Watcher(upload, voucher_list)
    _watch(monkeypatch, watcher)
    try:
        upload = services.voucher_upload_process(upload=upload)
    finally:
        watcher.close()
    assert upload.status == Status.COMPLETED
    done_values = [done for done, _codes, _locked in watcher.seen]
    assert done_values == sorted(set(done_values))
    assert done_values == [3, 6, 9, 10, 13, 16, 19, 20]
    # Every look happened while the run held the upload row, and saw no code yet.
    assert all(locked for _d, _c, locked in watcher.seen)
    assert {codes for _d, codes, _l in watcher.seen} == {0}
    percents = [done * 100 // upload.progress_total for done in done_values]
    assert percents == [15, 30, 45, 50, 65, 80, 95, 100]
    assert VoucherCode.objects.filter(voucher_list=voucher_list).count() == 10


@pytest.mark.django_db(transaction=True)
def test_a_failure_mid_way_leaves_the_list_as_it_was(monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["KEEP1", "KEEP2"])
    monkeypatch.setattr(services.staging, "PROCESS_CHUNK", 2)
    upload = _confirmed_upload(voucher_list, [f"N{n}" for n in range(8)])
    watcher = Watcher(upload, voucher_list)
    # Fails after the second insert chunk: some codes were already written in the run.
    _watch(monkeypatch, watcher, fail_after_done=upload.rows_read + 4)
    try:
        upload = services.voucher_upload_process(upload=upload)
    finally:
        watcher.close()
    assert upload.status == Status.FAILED
    assert upload.error_message == services.ERR_PROCESS_UNEXPECTED
    assert watcher.seen[-1][0] == upload.rows_read + 4
    voucher_list.refresh_from_db()
    assert (voucher_list.codes_total, voucher_list.codes_assigned) == (2, 0)
    assert sorted(voucher_list.codes.values_list("code", flat=True)) == ["KEEP1", "KEEP2"]


@pytest.mark.django_db
def test_upload_page_shows_the_live_percentage(partner_client, partner_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    voucher_list = VoucherListFactory(partner=partner_user.partner_link.partner)
    upload = _confirmed_upload(voucher_list, ["A1", "A2", "A3", "A4", "A5"])
    assert upload.progress_total == 10
    VoucherUploadProgress.objects.create(upload=upload, done=4)
    page = partner_client.get(f"/partner/uploads/{upload.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Storing codes… 40%." in page
    assert 'aria-valuenow="40"' in page


@pytest.mark.django_db(transaction=True)
def test_the_partner_page_reads_the_moving_percentage_while_the_run_holds_the_upload(monkeypatch, settings, tmp_path):
    # The run's transaction holds the upload row; the percentage comes from the side row its
    # second connection writes.
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(services.staging, "PROCESS_CHUNK", 3)
    voucher_list = VoucherListFactory()
    upload = _confirmed_upload(voucher_list, [f"P{n}" for n in range(10)])
    seen = []
    original = services.upload_processing._ProgressReporter.__call__
    page = ThreadPoolExecutor(max_workers=1)  # the partner's page: another thread, another session

    def percent_on_the_page():
        try:
            return VoucherUpload.objects.get(pk=upload.pk).progress_percent
        finally:
            connection.close()

    def reporting(self, done):
        original(self, done)
        seen.append(page.submit(percent_on_the_page).result())

    monkeypatch.setattr(services.upload_processing._ProgressReporter, "__call__", reporting)
    try:
        upload = services.voucher_upload_process(upload=upload)
    finally:
        page.shutdown()
    assert upload.status == Status.COMPLETED
    assert seen == [15, 30, 45, 50, 65, 80, 95, 100]
