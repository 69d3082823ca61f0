import pytest

from tests.vouchers.factories import PartnerFactory, VoucherListFactory
from tests.vouchers.helpers import csv_file, load_codes
from vouchers import services, upload_files
from vouchers.models import VoucherCode, VoucherList, VoucherUpload

pytestmark = pytest.mark.django_db

Status = VoucherUpload.Status


def _upload(voucher_list, text, name="codes.csv"):
    upload = services.voucher_upload_create(voucher_list=voucher_list, file=csv_file(text, name), uploaded_by=None)
    return services.voucher_upload_validate(upload=upload)


def _error_rows(upload):
    with upload.error_file.open("rb") as f:
        return f.read().decode("utf-8").splitlines()


def test_valid_upload_gives_a_report_and_stores_nothing_until_confirmed():
    voucher_list = VoucherListFactory()
    upload = _upload(voucher_list, "code\nAAA1\nBBB2\nCCC3\n")
    assert upload.status == Status.AWAITING_CONFIRMATION
    assert (upload.rows_read, upload.codes_valid, upload.bad_rows) == (3, 3, 0)
    assert upload.header_skipped == "code"
    assert not upload.error_file
    assert VoucherCode.objects.count() == 0
    services.voucher_upload_confirm(upload=upload, actor=None)
    upload.refresh_from_db()
    assert upload.status == Status.IN_PROGRESS
    assert VoucherCode.objects.count() == 0
    upload = services.voucher_upload_process(upload=upload)
    assert upload.status == Status.COMPLETED
    assert upload.codes_accepted == 3
    voucher_list.refresh_from_db()
    assert voucher_list.codes_total == 3
    assert sorted(VoucherCode.objects.values_list("code", flat=True)) == ["AAA1", "BBB2", "CCC3"]


def test_report_counts_duplicates_in_file_and_in_other_lists_with_line_numbers():
    partner = PartnerFactory()
    other = VoucherListFactory(partner=partner, tag="other")
    load_codes(other, ["OLD1", "OLD2"])
    voucher_list = VoucherListFactory(partner=partner, tag="new")
    upload = _upload(voucher_list, "NEW1\nOLD1\nNEW1\nNEW2\nbad code\n" + "X" * 65 + "\n")
    assert upload.status == Status.AWAITING_CONFIRMATION
    assert upload.rows_read == 6
    assert upload.codes_valid == 2
    assert upload.duplicates_in_file == 1
    assert upload.duplicates_existing == 1
    assert upload.bad_rows == 2
    assert _error_rows(upload) == [
        '"line","code","error"',
        '"2","OLD1","Already in list “other”"',
        '"3","NEW1","Duplicate of line 1 in this file"',
        '"5","bad code","Code contains spaces or invisible characters"',
        f'"6","{"X" * 64}","Code is longer than 64 characters"',
    ]
    assert VoucherCode.objects.filter(voucher_list=voucher_list).count() == 0
    services.voucher_upload_confirm(upload=upload, actor=None)
    upload = services.voucher_upload_process(upload=upload)
    assert upload.status == Status.COMPLETED
    assert (upload.codes_accepted, upload.error_count) == (2, 4)
    assert sorted(voucher_list.codes.values_list("code", flat=True)) == ["NEW1", "NEW2"]


def test_codes_of_archived_lists_do_not_count_as_duplicates():
    partner = PartnerFactory()
    old = VoucherListFactory(partner=partner, tag="old")
    load_codes(old, ["SAME1"])
    services.voucher_list_archive(voucher_list=old, actor=None)
    voucher_list = VoucherListFactory(partner=partner, tag="new")
    upload = _upload(voucher_list, "SAME1\n")
    assert (upload.codes_valid, upload.duplicates_existing) == (1, 0)


def test_the_same_code_is_allowed_for_another_partner():
    load_codes(VoucherListFactory(), ["SHARED"])
    upload = _upload(VoucherListFactory(), "SHARED\n")
    assert upload.codes_valid == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("A1\nB2,extra\n", "Line 2 has 2 columns. The file must have exactly one column of codes."),
        ("", "The file has no codes."),
        ("\n\n", "The file has no codes."),
        ("code\n", "The file has no codes."),
        (
            b"A1\n" + "Ünïcode\n".encode("latin-1"),
            "The file is not UTF-8 text (line 2 cannot be read). Save it as “CSV UTF-8” and upload it again.",
        ),
    ],
)
def test_bad_files_are_rejected_with_a_report_and_store_nothing(content, message):
    voucher_list = VoucherListFactory()
    upload = _upload(voucher_list, content)
    assert upload.status == Status.FAILED
    assert upload.error_message == message
    assert upload.is_rejected
    assert VoucherCode.objects.count() == 0
    with pytest.raises(services.VoucherError):
        services.voucher_upload_confirm(upload=upload, actor=None)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(upload_files, "MAX_UPLOAD_BYTES", 10)
    voucher_list = VoucherListFactory()
    with pytest.raises(services.VoucherError) as exc:
        services.voucher_upload_create(voucher_list=voucher_list, file=csv_file("A" * 11), uploaded_by=None)
    assert exc.value.messages == ["The file is 0.0 MB; files may be at most 0 MB."]
    assert VoucherUpload.objects.count() == 0


def test_utf8_bom_and_crlf_are_read():
    upload = _upload(VoucherListFactory(), b"\xef\xbb\xbfcode\r\nA1\r\nB2\r\n")
    assert (upload.header_skipped, upload.codes_valid) == ("code", 2)


def test_a_list_cannot_grow_past_a_million_codes(monkeypatch):
    voucher_list = VoucherListFactory()
    VoucherList.objects.filter(pk=voucher_list.pk).update(codes_total=999_999)
    upload = _upload(voucher_list, "A1\nB2\n")
    assert upload.status == Status.FAILED
    assert upload.error_message == "This upload would take the list to 1,000,001 codes; a list holds at most 1,000,000."


def test_failed_processing_leaves_the_list_as_it_was(monkeypatch):
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["KEEP1"])
    upload = _upload(voucher_list, "N1\nN2\nN3\n")
    services.voucher_upload_confirm(upload=upload, actor=None)
    original = services.staging.mark_duplicates

    def explode(cursor, **kwargs):
        original(cursor, **kwargs)
        cursor.execute("SELECT 1/0")

    monkeypatch.setattr(services.staging, "mark_duplicates", explode)
    upload = services.voucher_upload_process(upload=upload)
    assert upload.status == Status.FAILED
    assert upload.error_message == services.ERR_PROCESS_UNEXPECTED
    voucher_list.refresh_from_db()
    assert voucher_list.codes_total == 1
    assert list(voucher_list.codes.values_list("code", flat=True)) == ["KEEP1"]


def test_processing_fails_whole_when_the_list_was_archived_after_confirmation():
    voucher_list = VoucherListFactory()
    upload = _upload(voucher_list, "N1\nN2\n")
    services.voucher_upload_confirm(upload=upload, actor=None)
    services.voucher_list_archive(voucher_list=voucher_list, actor=None)
    upload = services.voucher_upload_process(upload=upload)
    assert upload.status == Status.FAILED
    assert upload.error_message == services.ERR_PROCESS_LIST_CLOSED
    assert VoucherCode.objects.count() == 0


def test_processing_twice_stores_the_codes_once():
    voucher_list = VoucherListFactory()
    upload = _upload(voucher_list, "N1\nN2\n")
    services.voucher_upload_confirm(upload=upload, actor=None)
    services.voucher_upload_process(upload=upload)
    services.voucher_upload_process(upload=upload)
    voucher_list.refresh_from_db()
    assert voucher_list.codes_total == 2
    assert VoucherCode.objects.count() == 2


def test_top_up_adds_codes_and_reports_codes_already_in_the_list():
    voucher_list = VoucherListFactory()
    first = load_codes(voucher_list, ["A1", "A2"])
    assert first.kind == VoucherUpload.Kind.NEW_LIST
    second = load_codes(voucher_list, ["A2", "A3"])
    assert second.kind == VoucherUpload.Kind.TOP_UP
    assert (second.codes_accepted, second.duplicates_existing) == (1, 1)
    assert voucher_list.codes_total == 3


def test_cancelled_upload_stores_nothing_and_cannot_be_confirmed():
    voucher_list = VoucherListFactory()
    upload = _upload(voucher_list, "N1\n")
    services.voucher_upload_cancel(upload=upload, actor=None)
    upload.refresh_from_db()
    assert upload.status == Status.CANCELLED
    with pytest.raises(services.VoucherError) as exc:
        services.voucher_upload_confirm(upload=upload, actor=None)
    assert exc.value.messages == [services.ERR_CONFIRM_STATUS]
    assert VoucherCode.objects.count() == 0


def test_error_file_cells_are_formula_safe():
    upload = _upload(VoucherListFactory(), "=HYPERLINK(x)\n=HYPERLINK(x)\nOK1\n")
    assert _error_rows(upload)[1] == '"2","\'=HYPERLINK(x)","Duplicate of line 1 in this file"'
