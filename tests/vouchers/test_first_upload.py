"""Issue #16, SPEC 8: a new list created with its first file exists for campaigns only once
those codes are stored; a refused, cancelled or failed first upload leaves nothing behind."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from promotions.models import Campaign
from tests.promotions.factories import CampaignFactory, custom_list_with
from tests.promotions.helpers import post_section
from tests.vouchers.helpers import csv_file, load_codes
from vouchers import services, tasks, upload_views
from vouchers.models import DiscardedVoucherList, VoucherCode, VoucherList, VoucherUpload, VoucherUploadProgress
from vouchers.selectors import account_today

pytestmark = pytest.mark.django_db

# Past the 64 KB the request checks itself (upload_files.HEAD_BYTES): only the task sees line 10,002.
DEEP_BAD_FILE = "code\n" + "".join(f"C{i:06d}\n" for i in range(10_000)) + "X1,extra\n"


def _future(days=30):
    return (timezone.now().date() + datetime.timedelta(days=days)).isoformat()


def _new_list(client, *, tag="qa", file_text="code\nA1\nB2\n", url="/partner/lists/new/", **extra):
    data = {"tag": tag, "name": "QA list", "expires_on": _future(), "low_stock_threshold": 1, **extra}
    return client.post(url, {**data, "file": csv_file(file_text)})


@pytest.fixture
def background(monkeypatch):
    """Every first file goes down the large-file path: validated by the background task."""
    monkeypatch.setattr(upload_views, "SYNC_VALIDATE_BYTES", 10)


def _offered_in_builder(marketer, voucher_list) -> bool:
    client = Client()
    client.force_login(marketer)
    campaign = CampaignFactory(
        qualification=Campaign.Qualification.CUSTOM_LIST,
        custom_list=custom_list_with(2),
        audience_source="custom_list",
        who_complete=True,
    )
    data = {"reward_type": "voucher", "partner": voucher_list.partner_id}
    html = post_section(client, campaign, "what", data, refresh=True).content.decode()
    return f"({voucher_list.tag})" in html


def test_new_list_waits_for_its_first_codes_before_campaigns_can_use_it(partner_client, partner_user, marketer):
    response = _new_list(partner_client)
    assert response.status_code == 302
    page = partner_client.get(response["Location"]).content.decode()
    assert "File received for the new list “qa”" in page
    assert "becomes active when these codes are stored" in page
    voucher_list = VoucherList.objects.get()
    assert voucher_list.status == VoucherList.Status.PENDING
    assert "Pending first upload" in partner_client.get("/partner/").content.decode()
    assert not _offered_in_builder(marketer, voucher_list)

    upload = VoucherUpload.objects.get()
    partner_client.post(f"/partner/uploads/{upload.pk}/confirm/")
    services.voucher_upload_process(upload=VoucherUpload.objects.get(pk=upload.pk))

    voucher_list.refresh_from_db()
    assert (voucher_list.status, voucher_list.codes_total) == (VoucherList.Status.ACTIVE, 2)
    assert _offered_in_builder(marketer, voucher_list)


def test_a_pending_list_takes_no_second_upload(partner_client):
    _new_list(partner_client)
    voucher_list = VoucherList.objects.get()
    with pytest.raises(services.VoucherError, match="waiting for its first upload"):
        services.voucher_upload_create(voucher_list=voucher_list, file=csv_file("code\nZ9\n"), uploaded_by=None)


def test_cancelling_the_first_upload_removes_the_new_list_and_frees_its_tag(
    partner_client, django_capture_on_commit_callbacks
):
    _new_list(partner_client)
    upload = VoucherUpload.objects.get()
    original = upload.file.name
    storage = upload.file.storage

    with django_capture_on_commit_callbacks(execute=True):
        response = partner_client.post(f"/partner/uploads/{upload.pk}/cancel/", follow=True)

    html = response.content.decode()
    assert "The list “qa” was not created" in html
    assert "The upload of codes.csv was cancelled." in html
    assert "its tag “qa” is free" in html
    assert "/partner/lists/new/?tag=qa&amp;name=QA+list" in html
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()
    assert not storage.exists(original)
    form = partner_client.get("/partner/lists/new/?tag=qa&name=QA+list").content.decode()
    assert 'value="qa"' in form and 'value="QA list"' in form
    assert _new_list(partner_client).status_code == 302
    assert VoucherList.objects.get().tag == "qa"


def test_a_background_first_file_refused_deep_in_the_file_removes_the_new_list(
    partner_client, partner_user, marketer, background
):
    """The file's first lines pass the in-request check; line 10,002 has two columns."""
    response = _new_list(partner_client, file_text=DEEP_BAD_FILE)
    assert response.status_code == 302
    upload = VoucherUpload.objects.get()
    assert upload.status == VoucherUpload.Status.VALIDATING
    assert VoucherList.objects.get().status == VoucherList.Status.PENDING
    assert not _offered_in_builder(marketer, VoucherList.objects.get())

    tasks.voucher_upload_validate_task(upload.pk)

    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()
    # The page was polling the upload: it is told to reload, and then says what happened.
    poll = partner_client.get(f"/partner/uploads/{upload.pk}/", headers={"HX-Request": "true"})
    assert poll["HX-Refresh"] == "true"
    html = partner_client.get(f"/partner/uploads/{upload.pk}/").content.decode()
    refused = "Line 10002 has 2 columns. The file must have exactly one column of codes."
    assert f"The file codes.csv was refused: {refused}" in html
    assert "No codes were stored, and the new list was removed" in html
    assert DiscardedVoucherList.objects.get().outcome == DiscardedVoucherList.Outcome.REFUSED

    retry = _new_list(partner_client)
    assert retry.status_code == 302 and VoucherList.objects.get().tag == "qa"


def test_cancelling_a_background_first_upload_while_it_validates_removes_the_list(partner_client, background):
    _new_list(partner_client, file_text=DEEP_BAD_FILE.replace("X1,extra", "X1"))
    upload = VoucherUpload.objects.get()
    partner_client.post(f"/partner/uploads/{upload.pk}/cancel/")
    assert not VoucherList.objects.exists()
    # The task that was already owed finds nothing to validate and does not fail.
    tasks.voucher_upload_validate_task(upload.pk)
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()


def test_a_first_upload_whose_processing_stores_nothing_removes_the_list(partner_client, partner_user):
    """Between confirmation and processing another list of the partner took both codes."""
    _new_list(partner_client)
    upload = VoucherUpload.objects.get()
    partner_client.post(f"/partner/uploads/{upload.pk}/confirm/")
    other = services.voucher_list_create(
        partner=partner_user.partner_link.partner, tag="other", name="Other", expires_on=account_today()
    )
    load_codes(other, ["A1", "B2"])

    services.voucher_upload_process(upload=VoucherUpload.objects.get(pk=upload.pk))

    assert list(VoucherList.objects.values_list("tag", flat=True)) == ["other"]
    assert not VoucherUploadProgress.objects.filter(upload_id=upload.pk).exists()
    html = partner_client.get(f"/partner/uploads/{upload.pk}/").content.decode()
    assert f"could not be stored: {services.ERR_PROCESS_NOTHING_STORED}" in html
    assert VoucherCode.objects.filter(voucher_list=other).count() == 2


@pytest.mark.parametrize("action, verb", [("confirm", "confirmed"), ("cancel", "cancelled")])
def test_confirm_or_cancel_from_a_second_tab_after_the_first_upload_was_cancelled(partner_client, action, verb):
    """Two tabs on the same waiting upload: one cancels it (the new list goes with it); the other,
    still showing the buttons, then confirms or cancels. It lands on the upload's page, told why."""
    _new_list(partner_client)
    upload = VoucherUpload.objects.get()
    partner_client.post(f"/partner/uploads/{upload.pk}/cancel/")
    assert not VoucherUpload.objects.exists()

    response = partner_client.post(f"/partner/uploads/{upload.pk}/{action}/", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(f"/partner/uploads/{upload.pk}/", 302)]
    html = response.content.decode()
    assert f"This upload can no longer be {verb}: it was already cancelled and its new list was removed." in html
    assert "The list “qa” was not created" in html
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()


def test_the_marketer_confirming_a_discarded_first_upload_is_told_so(marketer_client):
    from tests.vouchers.factories import PartnerFactory

    partner = PartnerFactory(name="ShopCo")
    _new_list(marketer_client, url="/vouchers/new/", partner=partner.pk)
    upload = VoucherUpload.objects.get()
    marketer_client.post(f"/vouchers/uploads/{upload.pk}/cancel/")

    response = marketer_client.post(f"/vouchers/uploads/{upload.pk}/confirm/", follow=True)

    assert response.redirect_chain == [(f"/vouchers/uploads/{upload.pk}/", 302)]
    assert "it was already cancelled and its new list was removed" in response.content.decode()
    assert marketer_client.post("/vouchers/uploads/999999/confirm/").status_code == 404


def _refused_first_upload(client, **extra) -> int:
    """A new list whose first file the background validation refuses: list and upload removed."""
    _new_list(client, file_text=DEEP_BAD_FILE, **extra)
    upload_id = VoucherUpload.objects.get().pk
    tasks.voucher_upload_validate_task(upload_id)
    return upload_id


def test_a_refused_first_upload_confirmed_from_a_stale_tab_says_it_was_refused(partner_client, background):
    upload_id = _refused_first_upload(partner_client)
    response = partner_client.post(f"/partner/uploads/{upload_id}/confirm/", follow=True)
    assert "it was already refused and its new list was removed" in response.content.decode()


def test_another_partners_discarded_upload_is_not_found_to_read_or_act_on(partner_client, background):
    from tests.vouchers.factories import PartnerFactory

    upload_id = _refused_first_upload(partner_client)
    DiscardedVoucherList.objects.update(partner=PartnerFactory(name="Someone else"))
    assert partner_client.get(f"/partner/uploads/{upload_id}/").status_code == 404
    assert partner_client.post(f"/partner/uploads/{upload_id}/confirm/").status_code == 404
    assert partner_client.get(f"/partner/uploads/{upload_id}/confirm/").status_code == 404


def test_marketer_sees_the_discarded_first_upload_too(marketer_client, background):
    from tests.vouchers.factories import PartnerFactory

    partner = PartnerFactory(name="ShopCo")
    upload_id = _refused_first_upload(marketer_client, url="/vouchers/new/", partner=partner.pk)
    html = marketer_client.get(f"/vouchers/uploads/{upload_id}/").content.decode()
    assert "The list “qa” was not created" in html
    assert f"/vouchers/new/?tag=qa&amp;name=QA+list&amp;partner={partner.pk}" in html


def test_the_error_file_link_counts_rows_in_words(partner_client):
    _new_list(partner_client, file_text="code\nA1\nbad code\n")
    upload = VoucherUpload.objects.get()
    html = partner_client.get(f"/partner/uploads/{upload.pk}/").content.decode()
    assert "Download error file (1 row, with line numbers)" in html


@pytest.mark.django_db(transaction=True)
def test_a_cancel_committed_while_the_task_validates_leaves_nothing_behind(monkeypatch, tmp_path):
    """Real concurrency: the background validation is mid-file when the partner's cancel commits."""
    import threading

    from django.db import connection

    from tests.vouchers.factories import PartnerFactory

    partner = PartnerFactory()
    voucher_list = services.voucher_list_create(
        partner=partner, tag="race", name="Race", expires_on=account_today(), pending_first_upload=True
    )
    upload = services.voucher_upload_create(
        voucher_list=voucher_list, file=csv_file("code\nR1\nbad code\n"), uploaded_by=None
    )
    started, cancelled = threading.Event(), threading.Event()
    real = services.staging.mark_duplicates

    def held(cursor, *, partner_id):
        started.set()
        assert cancelled.wait(20)
        return real(cursor, partner_id=partner_id)

    monkeypatch.setattr(services.staging, "mark_duplicates", held)
    outcome = {}

    def validate():
        try:
            outcome["upload"] = services.voucher_upload_validate(upload=VoucherUpload.objects.get(pk=upload.pk))
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            outcome["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=validate)
    worker.start()
    assert started.wait(20)
    services.voucher_upload_cancel(upload=VoucherUpload.objects.get(pk=upload.pk), actor=None)
    cancelled.set()
    worker.join(30)

    assert "error" not in outcome, outcome
    assert outcome["upload"].list_discarded
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()
    assert DiscardedVoucherList.objects.get().outcome == DiscardedVoucherList.Outcome.CANCELLED
    media = tmp_path / "media" / "vouchers"
    assert not [p for p in media.rglob("*") if p.is_file()]  # neither the file nor an error file is left
