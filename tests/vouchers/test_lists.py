"""List lifecycle: archive refused while a campaign uses the list, the expiry sweep, and
the upload entry checks (background validation of large files, request size)."""

import datetime

import pytest
from django.core.handlers.wsgi import WSGIRequest

from accounts.models import Outbox
from promotions.models import Campaign
from tests.vouchers.factories import VoucherListFactory
from tests.vouchers.helpers import csv_file
from vouchers import selectors, services, tasks, upload_files, upload_views
from vouchers.models import VoucherCode, VoucherList, VoucherListEvent, VoucherUpload

pytestmark = pytest.mark.django_db

ListStatus = VoucherList.Status


@pytest.mark.parametrize("status", [Campaign.Status.SCHEDULED, Campaign.Status.RUNNING])
def test_archiving_a_list_used_by_a_scheduled_or_running_campaign_is_refused(marketer_client, status):
    voucher_list = VoucherListFactory()
    Campaign.objects.create(name="Diwali vouchers", status=status, voucher_list=voucher_list)
    with pytest.raises(services.VoucherError) as exc:
        services.voucher_list_archive(voucher_list=voucher_list, actor=None)
    message = "This list is used by a scheduled or running campaign (Diwali vouchers); it cannot be archived."
    assert exc.value.messages == [message]
    response = marketer_client.post(f"/vouchers/{voucher_list.pk}/archive/", follow=True)
    assert message in response.content.decode()
    voucher_list.refresh_from_db()
    assert voucher_list.status == ListStatus.ACTIVE
    assert not voucher_list.events.filter(action=VoucherListEvent.Action.ARCHIVED).exists()


def test_a_list_used_only_by_draft_or_completed_campaigns_can_be_archived():
    voucher_list = VoucherListFactory()
    Campaign.objects.create(name="Draft", status=Campaign.Status.DRAFT, voucher_list=voucher_list)
    Campaign.objects.create(name="Done", status=Campaign.Status.COMPLETED, voucher_list=voucher_list)
    archived = services.voucher_list_archive(voucher_list=voucher_list, actor=None)
    assert archived.status == ListStatus.ARCHIVED


def test_linked_campaigns_show_on_the_list_detail_and_count_on_the_list_page(marketer_client):
    voucher_list = VoucherListFactory()
    running = Campaign.objects.create(name="Summer push", status=Campaign.Status.RUNNING, voucher_list=voucher_list)
    Campaign.objects.create(name="Winter draft", status=Campaign.Status.DRAFT, voucher_list=voucher_list)
    Campaign.objects.create(name="Unrelated", status=Campaign.Status.RUNNING)
    page = marketer_client.get(voucher_list.get_absolute_url()).content.decode()
    assert f'<a href="/campaigns/{running.pk}/">Summer push</a>' in page
    assert "Winter draft" in page
    assert "Unrelated" not in page
    assert "No campaign uses this list" not in page
    listing = marketer_client.get("/vouchers/")
    row = next(vl for vl in listing.context["lists"] if vl.pk == voucher_list.pk)
    assert row.linked_campaigns == 2


def test_expiry_sweep_expires_active_and_paused_lists_past_their_date_once():
    yesterday = selectors.account_today() - datetime.timedelta(days=1)
    today = selectors.account_today()
    active = VoucherListFactory(expires_on=yesterday)
    paused = VoucherListFactory(expires_on=yesterday, status=ListStatus.PAUSED)
    archived = VoucherListFactory(expires_on=yesterday, status=ListStatus.ARCHIVED)
    last_day = VoucherListFactory(expires_on=today)
    tasks.voucher_lists_expire_task.apply().get()
    statuses = dict(VoucherList.objects.values_list("pk", "status"))
    assert statuses == {
        active.pk: ListStatus.EXPIRED,
        paused.pk: ListStatus.EXPIRED,
        archived.pk: ListStatus.ARCHIVED,
        last_day.pk: ListStatus.ACTIVE,
    }
    assert VoucherListEvent.objects.filter(action=VoucherListEvent.Action.EXPIRED).count() == 2
    assert services.voucher_lists_expire() == 0
    assert VoucherListEvent.objects.filter(action=VoucherListEvent.Action.EXPIRED).count() == 2
    assert not selectors.voucher_list_is_usable(voucher_list=active)


def test_a_file_over_2_mb_is_validated_in_the_background(
    partner_client, partner_user, django_capture_on_commit_callbacks
):
    voucher_list = VoucherListFactory(partner=partner_user.partner_link.partner)
    codes = [f"BIG{n:07d}" for n in range(220_000)] + ["BIG0000001"]
    data = ("\n".join(codes) + "\n").encode()
    assert len(data) > upload_views.SYNC_VALIDATE_BYTES
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = partner_client.post(f"/partner/lists/{voucher_list.pk}/upload/", {"file": csv_file(data)})
    upload = VoucherUpload.objects.get()
    assert response["Location"] == f"/partner/uploads/{upload.pk}/"
    # Nothing was read yet: the page polls while the task validates.
    assert upload.status == VoucherUpload.Status.VALIDATING
    page = partner_client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in page
    # The validation task is owed with the upload row (accounts/outbox.py) and woken after commit.
    assert len(queued) == 1
    assert list(Outbox.objects.values_list("topic", "payload")) == [("vouchers.upload_validate", {"args": [upload.pk]})]
    tasks.voucher_upload_validate_task(upload.pk)  # what the woken worker runs
    assert not Outbox.objects.exists()
    upload.refresh_from_db()
    assert upload.status == VoucherUpload.Status.AWAITING_CONFIRMATION
    assert (upload.rows_read, upload.codes_valid, upload.duplicates_in_file) == (220_001, 220_000, 1)
    assert VoucherCode.objects.count() == 0


@pytest.mark.parametrize("url", ["/partner/lists/{pk}/upload/", "/partner/lists/new/"])
def test_a_request_over_the_size_limit_is_refused_without_reading_the_body(
    partner_client, partner_user, monkeypatch, url
):
    voucher_list = VoucherListFactory(partner=partner_user.partner_link.partner)

    def must_not_read(self):
        raise AssertionError("the request body was read")

    monkeypatch.setattr(WSGIRequest, "_load_post_and_files", must_not_read)
    too_big = upload_files.MAX_UPLOAD_BYTES + upload_views.REQUEST_SLACK_BYTES + 1
    response = partner_client.post(
        url.format(pk=voucher_list.pk), data=b"x" * 10, content_type="text/csv", CONTENT_LENGTH=str(too_big)
    )
    assert response.status_code == 413
    assert "The file is 51.0 MB; files may be at most 50 MB." in response.content.decode()
    assert VoucherUpload.objects.count() == 0
    assert VoucherList.objects.count() == 1
