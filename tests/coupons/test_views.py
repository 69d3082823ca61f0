import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from coupons import services
from coupons.models import Coupon, CouponCode, CouponEvent
from tests.coupons.conftest import add_codes
from tests.coupons.factories import BulkCouponFactory, CouponFactory
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_list_shows_available_and_archived_tabs_with_counters(marketer_client):
    bulk = add_codes(BulkCouponFactory(name="Diwali series", low_stock_threshold=5), 4)
    services.code_assign(coupon=bulk, profile=ProfileFactory(), campaign=None, occurrence="x")
    CouponFactory(name="Old one", status=Coupon.Status.ARCHIVED)
    CouponFactory(name="Ended one", status=Coupon.Status.ENDED)
    page = marketer_client.get("/coupons/").content.decode()
    assert "Diwali series" in page and "Old one" not in page and "Ended one" not in page
    assert "Low stock: 3 left" in page
    archived = marketer_client.get("/coupons/?tab=archived").content.decode()
    assert "Old one" in archived and "Ended one" in archived and "Diwali series" not in archived


def test_list_filters_by_kind_and_status_and_htmx_gets_the_table_partial(marketer_client):
    CouponFactory(name="Shared code")
    BulkCouponFactory(name="Series A")
    BulkCouponFactory(name="Series B", status=Coupon.Status.PAUSED)
    response = marketer_client.get("/coupons/?kind=bulk&status=paused", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert 'id="coupon-table"' in body and "<html" not in body
    assert "Series B" in body and "Series A" not in body and "Shared code" not in body


def test_a_filter_that_does_not_parse_is_named_above_the_table_and_the_others_still_apply(marketer_client):
    CouponFactory(name="Shared code")
    BulkCouponFactory(name="Series A")
    response = marketer_client.get("/coupons/?kind=bulk&status=bogus", headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 422 and "<html" not in body
    assert 'id="filter-errors"' in body
    assert "Status: Select a valid choice. bogus is not one of the available choices." in body
    assert "Series A" in body and "Shared code" not in body  # the kind still filters
    page = marketer_client.get("/coupons/?status=bogus")
    assert page.status_code == 422 and "<html" in page.content.decode() and "New coupon" in page.content.decode()


def test_list_runs_a_constant_number_of_queries(marketer_client, django_assert_max_num_queries):
    for i in range(30):
        add_codes(BulkCouponFactory(name=f"S{i}"), 2, prefix=f"P{i}-") if i < 3 else CouponFactory(name=f"C{i}")
    with django_assert_max_num_queries(8):
        response = marketer_client.get("/coupons/")
    assert response.status_code == 200


def test_create_form_swaps_fields_by_kind(marketer_client):
    single = marketer_client.get("/coupons/new/?kind=single&switch=1&name=Fest", headers={"HX-Request": "true"})
    body = single.content.decode()
    assert 'id="coupon-form"' in body and "<html" not in body
    assert 'name="code"' in body and 'name="low_stock_threshold"' not in body and 'value="Fest"' in body
    bulk = marketer_client.get("/coupons/new/?kind=bulk&switch=1", headers={"HX-Request": "true"}).content.decode()
    assert 'name="code"' not in bulk and 'name="low_stock_threshold"' in bulk
    # Two kinds to choose from, no blank "---------" card.
    page = marketer_client.get("/coupons/new/").content.decode()
    kinds = re.findall(r'<input type="radio" name="kind" value="([^"]*)"', page)
    assert kinds == ["single", "bulk"]


def test_create_single_code_coupon(marketer_client, marketer):
    response = marketer_client.post(
        "/coupons/new/",
        {"kind": "single", "name": "Welcome", "code": "WELCOME100", "per_user_limit": 1, "expiry_after_value": ""},
    )
    coupon = Coupon.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/coupons/{coupon.pk}/"
    assert (coupon.kind, coupon.code, coupon.status, coupon.created_by) == ("single", "WELCOME100", "draft", marketer)
    assert CouponEvent.objects.get(coupon=coupon).action == "created"


def test_empty_redemptions_per_user_means_unlimited(marketer_client):
    response = marketer_client.post(
        "/coupons/new/", {"kind": "single", "name": "Always", "code": "ALWAYS5", "per_user_limit": ""}
    )
    coupon = Coupon.objects.get()
    assert response.status_code == 302 and coupon.per_user_limit is None
    detail = marketer_client.get(f"/coupons/{coupon.pk}/").content.decode()
    assert "<dt>Redemptions per user</dt><dd>Unlimited</dd>" in detail


def test_the_server_ignores_fields_of_the_other_kind(marketer_client):
    marketer_client.post("/coupons/new/", {"kind": "bulk", "name": "Series", "code": "SNEAKY", "total_limit": 5})
    coupon = Coupon.objects.get()
    assert (coupon.kind, coupon.code, coupon.total_limit) == ("bulk", "", None)


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"code": ""}, "Enter the coupon code customers type, e.g. WELCOME100."),
        ({"code": "has space"}, "Use 3–64 letters, digits, “-” or “_”, without spaces."),
        ({"expiry_after_value": 3}, "Give both a number and a unit for the expiry, or leave both empty for “never”."),
    ],
)
def test_create_shows_field_errors(marketer_client, data, field_error):
    post = {"kind": "single", "name": "X", "code": "GOOD1", "per_user_limit": 1, **data}
    response = marketer_client.post("/coupons/new/", post, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert field_error in response.content.decode()
    assert not Coupon.objects.exists()


def test_single_code_must_be_unique_among_live_coupons(marketer_client):
    CouponFactory(code="WELCOME100")
    response = marketer_client.post(
        "/coupons/new/", {"kind": "single", "name": "X", "code": "welcome100", "per_user_limit": 1}
    )
    assert "Another single-code coupon that is not archived already uses this code." in response.content.decode()


def test_edit_keeps_the_kind(marketer_client):
    coupon = CouponFactory(name="Old", code="OLD1")
    response = marketer_client.post(
        f"/coupons/{coupon.pk}/edit/", {"kind": "bulk", "name": "New", "code": "OLD1", "per_user_limit": 2}
    )
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert (coupon.kind, coupon.name, coupon.per_user_limit) == ("single", "New", 2)


def test_detail_shows_stats_codes_history_and_actions(marketer_client):
    coupon = add_codes(BulkCouponFactory(name="Diwali"), 60)
    services.code_assign(coupon=coupon, profile=ProfileFactory(identity="asha"), campaign=None, occurrence="x")
    page = marketer_client.get(f"/coupons/{coupon.pk}/").content.decode()
    assert "Codes in series" in page and "asha" in page and "Page 1 of 2" in page
    assert "Started generating 60 alphanumeric codes of length 8" in page
    assert f"/coupons/{coupon.pk}/pause/" in page and f"/coupons/{coupon.pk}/activate/" not in page
    codes = marketer_client.get(
        f"/coupons/{coupon.pk}/?page=2", headers={"HX-Request": "true", "HX-Target": "coupon-codes"}
    )
    assert 'id="coupon-codes"' in codes.content.decode() and "<html" not in codes.content.decode()


def test_status_action_buttons_post_and_refusals_show_a_message(marketer_client):
    coupon = CouponFactory(status=Coupon.Status.ACTIVE)
    response = marketer_client.post(f"/coupons/{coupon.pk}/pause/", follow=True)
    coupon.refresh_from_db()
    assert coupon.status == "paused" and "Coupon is now Paused." in response.content.decode()
    response = marketer_client.post(f"/coupons/{coupon.pk}/pause/", follow=True)
    assert "A coupon that is Paused cannot be paused." in response.content.decode()
    assert marketer_client.get(f"/coupons/{coupon.pk}/pause/").status_code == 405


def test_generate_view_refuses_an_impossible_count_with_the_number_it_can(marketer_client):
    coupon = BulkCouponFactory()
    response = marketer_client.post(
        f"/coupons/{coupon.pk}/generate/", {"code_format": "numeric", "length": 4, "count": 20000}
    )
    assert response.status_code == 422
    assert "This format can produce only 10,000 more unique codes in this series" in response.content.decode()


def test_generate_view_starts_a_background_batch_with_a_progress_bar(marketer_client):
    coupon = BulkCouponFactory()
    response = marketer_client.post(
        f"/coupons/{coupon.pk}/generate/", {"code_format": "alphanumeric", "length": 8, "count": 5000}, follow=True
    )
    body = response.content.decode()
    assert "Generating 5,000 codes." in body and 'role="progressbar"' in body and "every 1s" in body
    progress = marketer_client.get(f"/coupons/{coupon.pk}/progress/", headers={"HX-Request": "true"})
    assert "0 of 5,000 codes (0%)" in progress.content.decode()
    batch = coupon.batches.get()
    services.code_generation_step(batch_id=batch.pk)
    done = marketer_client.get(f"/coupons/{coupon.pk}/progress/", headers={"HX-Request": "true"})
    assert done["HX-Refresh"] == "true"


def test_import_view_reports_a_bad_file_and_stores_nothing(marketer_client):
    coupon = BulkCouponFactory()
    upload = SimpleUploadedFile("codes.csv", b"A1\nA1\n", content_type="text/csv")
    response = marketer_client.post(f"/coupons/{coupon.pk}/import/", {"file": upload})
    assert response.status_code == 422
    assert "Line 2: code “A1” repeats line 1." in response.content.decode()
    assert not CouponCode.objects.exists()
    good = SimpleUploadedFile("codes.csv", b"code\nA1\nA2\n", content_type="text/csv")
    response = marketer_client.post(f"/coupons/{coupon.pk}/import/", {"file": good}, follow=True)
    assert "Importing 2 codes from codes.csv." in response.content.decode()


def test_csv_download_streams_codes_with_formula_safe_cells(marketer_client):
    coupon = BulkCouponFactory()
    dangerous = ["=SUM(A1)", "+1", "-2", "@cmd", "PLAIN"]
    services.code_import(
        coupon=coupon,
        upload=SimpleUploadedFile("c.csv", "\n".join(dangerous).encode(), content_type="text/csv"),
        actor=None,
    )
    profile = ProfileFactory(identity="=HYPERLINK(evil)")
    services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence="x")
    response = marketer_client.get(f"/coupons/{coupon.pk}/codes.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["code", "assigned_at", "identity"]
    assert [r[0] for r in rows[1:]] == ["'=SUM(A1)", "'+1", "'-2", "'@cmd", "PLAIN"]
    assert rows[1][2] == "'=HYPERLINK(evil)"


@pytest.mark.parametrize("value", ["\tx", "\rx", "\nx"])
def test_csv_safe_neutralises_control_prefixes(value):
    from core.csv_safety import csv_safe

    assert csv_safe(value) == "'" + value


def test_coupon_dates_are_typed_and_shown_as_the_app_shows_them_in_the_account_timezone(marketer_client):
    """Starts/Ends read "4 Dec 2026 18:30" in the account timezone and show it back the same way;
    a slash date is refused with the format to use instead of being guessed."""
    import datetime

    from accounts.account import account_tzinfo

    response = marketer_client.post(
        "/coupons/new/",
        {"kind": "single", "name": "Dated", "code": "DATED1", "starts_at": "4 Dec 2026 18:30", "ends_at": ""},
    )
    coupon = Coupon.objects.get()
    assert response.status_code == 302
    assert coupon.starts_at == datetime.datetime(2026, 12, 4, 18, 30, tzinfo=account_tzinfo())
    form = marketer_client.get(f"/coupons/{coupon.pk}/edit/").content.decode()
    assert 'value="4 Dec 2026 18:30"' in form and 'type="datetime-local"' not in form

    refused = marketer_client.post(
        "/coupons/new/",
        {"kind": "single", "name": "Slash", "code": "SLASH1", "starts_at": "12/04/2026 18:30"},
        headers={"HX-Request": "true"},
    )
    assert "Enter a date and time like 4 Dec 2026 18:30." in refused.content.decode()
    assert not Coupon.objects.filter(code="SLASH1").exists()
