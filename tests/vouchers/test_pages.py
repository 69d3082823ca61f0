import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.vouchers.factories import PartnerFactory, VoucherListFactory
from tests.vouchers.helpers import csv_file, load_codes
from vouchers.models import VoucherCode, VoucherList, VoucherUpload

pytestmark = pytest.mark.django_db


def _future(days=30):
    return (timezone.now().date() + datetime.timedelta(days=days)).isoformat()


def test_partner_creates_a_list_and_gets_the_report_before_anything_is_stored(partner_client, partner_user):
    response = partner_client.post(
        "/partner/lists/new/",
        {
            "tag": "Summer-Sale",
            "name": "Summer",
            "expires_on": _future(),
            "low_stock_threshold": 10,
            "file": csv_file("code\nA1\nA1\nB2\n"),
        },
    )
    upload = VoucherUpload.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/partner/uploads/{upload.pk}/"
    assert upload.voucher_list.tag == "summer-sale"
    assert upload.voucher_list.partner == partner_user.partner_link.partner
    page = partner_client.get(response["Location"]).content.decode()
    assert "Awaiting confirmation" in page
    assert "Confirm and store 2 codes" in page
    assert VoucherCode.objects.count() == 0
    partner_client.post(f"/partner/uploads/{upload.pk}/confirm/")
    upload.refresh_from_db()
    assert upload.status == VoucherUpload.Status.IN_PROGRESS
    progress = partner_client.get(f"/partner/uploads/{upload.pk}/", headers={"HX-Request": "true"})
    assert 'id="upload-status"' in progress.content.decode()
    assert "<html" not in progress.content.decode()


def test_list_tag_with_spaces_is_refused_with_a_clear_message(partner_client):
    response = partner_client.post(
        "/partner/lists/new/",
        {"tag": "summer sale", "name": "S", "expires_on": _future(), "low_stock_threshold": 1, "file": csv_file("A\n")},
    )
    assert response.status_code == 422
    assert "The list tag cannot contain spaces." in response.content.decode()
    assert VoucherList.objects.count() == 0


def test_duplicate_tag_for_the_partner_is_refused(partner_client, partner_user):
    VoucherListFactory(partner=partner_user.partner_link.partner, tag="summer")
    response = partner_client.post(
        "/partner/lists/new/",
        {"tag": "SUMMER", "name": "S", "expires_on": _future(), "low_stock_threshold": 1, "file": csv_file("A\n")},
    )
    assert "This partner already has a list with the tag “summer”." in response.content.decode()


def test_partner_home_shows_only_the_partners_lists(partner_client, partner_user, django_assert_max_num_queries):
    mine = VoucherListFactory(partner=partner_user.partner_link.partner, tag="mine")
    load_codes(mine, ["A1", "A2"])
    for _ in range(5):
        VoucherListFactory(partner=partner_user.partner_link.partner)
    VoucherListFactory(tag="theirs")
    with django_assert_max_num_queries(10):
        page = partner_client.get("/partner/").content.decode()
    assert "mine" in page
    assert "theirs" not in page


def test_marketer_list_page_has_a_constant_number_of_queries(marketer_client, django_assert_max_num_queries):
    for _ in range(20):
        VoucherListFactory()
    with django_assert_max_num_queries(10):
        response = marketer_client.get("/vouchers/")
    assert response.status_code == 200


def test_marketer_filters_by_partner_and_status(marketer_client):
    shop = PartnerFactory(name="ShopCo")
    VoucherListFactory(partner=shop, tag="shop-a")
    VoucherListFactory(tag="other-b", status=VoucherList.Status.PAUSED)
    page = marketer_client.get("/vouchers/", {"partner": shop.pk}).content.decode()
    assert "shop-a" in page and "other-b" not in page
    page = marketer_client.get("/vouchers/", {"status": "paused"}, headers={"HX-Request": "true"}).content.decode()
    assert "other-b" in page and "shop-a" not in page and "<html" not in page


def test_marketer_list_and_code_filters_that_do_not_parse_are_named_and_the_others_apply(marketer_client):
    shop = PartnerFactory(name="ShopCo")
    VoucherListFactory(partner=shop, tag="shop-a")
    VoucherListFactory(partner=shop, tag="shop-paused", status=VoucherList.Status.PAUSED)
    VoucherListFactory(tag="other-b")
    response = marketer_client.get("/vouchers/", {"partner": "999999", "status": "paused"})
    page = response.content.decode()
    assert response.status_code == 422
    assert "Partner: Select a valid choice. That choice is not one of the available choices." in page
    assert "shop-paused" in page and "shop-a" not in page and "other-b" not in page  # the status still filters

    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["KEEP1", "OTHER2"])
    response = marketer_client.get(
        voucher_list.get_absolute_url(),
        {"q": "KEEP1", "state": "sold"},
        headers={"HX-Request": "true", "HX-Target": "codes-table"},
    )
    body = response.content.decode()
    assert response.status_code == 422 and "<html" not in body
    assert "Show: Select a valid choice. sold is not one of the available choices." in body
    assert "KEEP1" in body and "OTHER2" not in body  # the code search still applies


def test_marketer_detail_shows_stats_codes_history_and_downloads(marketer_client):
    voucher_list = VoucherListFactory()
    upload = load_codes(voucher_list, ["=CMD1", "B2"])
    page = marketer_client.get(voucher_list.get_absolute_url()).content.decode()
    assert "Upload completed" in page
    assert "B2" in page
    csv_text = b"".join(marketer_client.get(f"/vouchers/{voucher_list.pk}/codes.csv").streaming_content).decode()
    assert '"\'=CMD1","available"' in csv_text
    original = b"".join(marketer_client.get(f"/vouchers/uploads/{upload.pk}/original/").streaming_content)
    assert original == b"=CMD1\nB2\n"


def test_marketer_pauses_and_extends_expiry(marketer_client):
    voucher_list = VoucherListFactory()
    marketer_client.post(f"/vouchers/{voucher_list.pk}/pause/")
    voucher_list.refresh_from_db()
    assert voucher_list.status == VoucherList.Status.PAUSED
    earlier = (voucher_list.expires_on - datetime.timedelta(days=1)).isoformat()
    response = marketer_client.post(
        f"/vouchers/{voucher_list.pk}/edit/",
        {"name": "N", "description": "", "expires_on": earlier, "low_stock_threshold": 5},
    )
    assert "The expiry date can only be moved later" in response.content.decode()


def test_marketer_uploads_for_a_partner(marketer_client):
    partner = PartnerFactory()
    response = marketer_client.post(
        reverse("vouchers:voucher_list_create"),
        {
            "partner": partner.pk,
            "tag": "m1",
            "name": "M",
            "expires_on": _future(),
            "low_stock_threshold": 1,
            "file": csv_file("A1\nB2,x\n"),
        },
    )
    # A refused first file creates nothing (issue #16); the form says why, naming the line.
    assert response.status_code == 422
    assert (
        "The file was refused, so no list was created: "
        "Line 2 has 2 columns. The file must have exactly one column of codes." in response.content.decode()
    )
    assert not VoucherUpload.objects.exists() and not VoucherList.objects.exists()


def _partner_urls(voucher_list, upload):
    lid, uid = voucher_list.pk, upload.pk
    return [
        ("get", f"/partner/lists/{lid}/"),
        ("post", f"/partner/lists/{lid}/upload/"),
        ("get", f"/partner/uploads/{uid}/"),
        ("post", f"/partner/uploads/{uid}/confirm/"),
        ("post", f"/partner/uploads/{uid}/cancel/"),
        ("get", f"/partner/uploads/{uid}/original/"),
        ("get", f"/partner/uploads/{uid}/errors/"),
    ]


def test_partner_cannot_reach_another_partners_list_or_upload_by_guessing_ids(partner_client):
    other_list = VoucherListFactory(tag="secret")
    other_upload = load_codes(other_list, ["A1", "A1"])
    assert other_upload.error_file
    for method, url in _partner_urls(other_list, other_upload):
        response = getattr(partner_client, method)(url)
        assert response.status_code == 404, url
    other_upload.refresh_from_db()
    assert other_upload.status == VoucherUpload.Status.COMPLETED
    assert "secret" not in partner_client.get("/partner/").content.decode()


def test_every_partner_url_is_covered_by_the_isolation_test():
    from vouchers import partner_urls

    covered = {"partner_home", "partner_list_create"}
    names = {p.name for p in partner_urls.urlpatterns}
    assert len(_partner_urls(VoucherList(pk=1), VoucherUpload(pk=1))) + len(covered) == len(names)


def test_a_new_list_whose_first_file_is_refused_leaves_nothing_behind(partner_client, partner_user):
    """Issue #16, SPEC 8: no empty list, no green "created" message, and the same tag works on retry."""
    from vouchers.upload_files import ERR_NO_CODES

    data = {"tag": "summer", "name": "Summer", "expires_on": _future(), "low_stock_threshold": 10}
    response = partner_client.post("/partner/lists/new/", {**data, "file": csv_file("code\n")})
    html = response.content.decode()
    assert response.status_code == 422, html[:500]
    assert f"The file was refused, so no list was created: {ERR_NO_CODES}" in html
    assert "alert-success" not in html
    assert VoucherList.objects.count() == 0 and VoucherUpload.objects.count() == 0

    retry = partner_client.post("/partner/lists/new/", {**data, "file": csv_file("code\nA1\n")})
    assert retry.status_code == 302
    assert VoucherList.objects.get().tag == "summer"


def test_marketer_new_list_whose_first_file_is_refused_is_not_created(marketer_client):
    from vouchers.upload_files import ERR_NO_CODES

    partner = PartnerFactory(name="ShopCo")
    data = {
        "partner": partner.pk,
        "tag": "festive",
        "name": "Festive",
        "expires_on": _future(),
        "low_stock_threshold": 1,
    }
    response = marketer_client.post("/vouchers/new/", {**data, "file": csv_file("code\n")})
    assert f"The file was refused, so no list was created: {ERR_NO_CODES}" in response.content.decode()
    assert not VoucherList.objects.exists()


def test_a_large_first_file_whose_first_lines_are_wrong_is_refused_before_the_list_exists(partner_client, monkeypatch):
    """Files validated in the background are checked on their first lines in the request."""
    from vouchers import upload_views

    monkeypatch.setattr(upload_views, "SYNC_VALIDATE_BYTES", 10)
    data = {"tag": "big", "name": "Big", "expires_on": _future(), "low_stock_threshold": 1}
    response = partner_client.post("/partner/lists/new/", {**data, "file": csv_file("code,extra\nA1,x\n")})
    assert (
        "The file was refused, so no list was created: "
        "Line 1 has 2 columns. The file must have exactly one column of codes." in response.content.decode()
    )
    assert not VoucherList.objects.exists() and not VoucherUpload.objects.exists()
    ok = partner_client.post("/partner/lists/new/", {**data, "file": csv_file("code\nA1\nB2\n")})
    assert ok.status_code == 302
    assert VoucherUpload.objects.get().status == VoucherUpload.Status.VALIDATING
