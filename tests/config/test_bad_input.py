"""Bad input everywhere (SPEC 8): each form, upload and API endpoint, fed wrong types, missing
fields, huge and negative values, unicode, malformed CSV and JSON, dates in the past and other
partners' ids, answers with a clear message naming the field, row or record — and nothing in
the database changes (row counts of every app table before and after)."""

import base64
import datetime
import json

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.coupons.factories import BulkCouponFactory
from tests.factories import ApiKeyFactory, UserFactory
from tests.promotions.factories import CampaignFactory
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import PartnerUserFactory, VoucherListFactory
from tests.wallets.factories import WalletFactory

pytestmark = pytest.mark.django_db

APPS = ("segments", "wallets", "coupons", "vouchers", "promotions", "config")
FUTURE = (timezone.localdate() + datetime.timedelta(days=30)).isoformat()
PAST = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
HUGE = "9" * 40
LONG = "é" * 600  # 1200 bytes of unicode


def row_counts() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for label in APPS
        for model in apps.get_app_config(label).get_models()
        if model._meta.label != "accounts.RateLimitCounter"  # counts requests, by design
    }


def csv_file(content: bytes, name: str = "upload.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    marketer = UserFactory(username="maya", groups=["Marketer"])
    mine = PartnerUserFactory(user__username="pat", partner__name="ShopCo")
    theirs = PartnerUserFactory(user__username="oli", partner__name="OtherCo")
    ProfileFactory(identity="u1")
    wallet = WalletFactory(name="Supercoins", rounding_places=0)
    key, secret = ApiKeyFactory.create_with_secret()
    return {
        "marketer": marketer,
        "partner": mine.user,
        "wallet": wallet,
        "coupon": BulkCouponFactory(name="DIWALI"),
        "my_list": VoucherListFactory(partner=mine.partner, tag="mine"),
        "their_list": VoucherListFactory(partner=theirs.partner, tag="theirs"),
        "draft": CampaignFactory(name="Draft", created_by=marketer),
        "auth": "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode(),
    }


def _api(world, method, url, body=None, raw=None):
    client = Client(HTTP_AUTHORIZATION=world["auth"])
    if method == "get":
        return client.get(url, body or {})
    data = raw if raw is not None else json.dumps(body)
    return client.post(url, data=data, content_type="application/json")


UPLOAD = "/api/1/upload"
TXN = "/api/1/promo/wallets/transactions"


def txn(world, **changes):
    body = {
        "identity": "u1",
        "walletId": world["wallet"].pk,
        "transactionType": "CREDIT",
        "points": 10,
        "description": "Goodwill",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def event(**changes):
    record = {"type": "event", "identity": "u1", "ts": 1_700_000_000, "evtName": "Charged", "evtData": {"Amount": 1}}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


# (name, request(world) -> response, expected status, text the answer must contain)
API_CASES = [
    ("upload: malformed JSON", lambda w: _api(w, "post", UPLOAD, raw='{"d": [}'), 400, "Malformed JSON"),
    ("upload: no d list", lambda w: _api(w, "post", UPLOAD, {"data": []}), 400, "list of records"),
    ("upload: d not a list", lambda w: _api(w, "post", UPLOAD, {"d": "x"}), 400, "list of records"),
    ("upload: JSON array body", lambda w: _api(w, "post", UPLOAD, [1, 2]), 400, "list of records"),
    ("upload: not UTF-8", lambda w: _api(w, "post", UPLOAD, raw=b'{"d": ["\xff"]}'), 400, "Malformed JSON"),
    ("upload: too many records", lambda w: _api(w, "post", UPLOAD, {"d": [event()] * 1001}), 413, "at most 1000"),
    (
        "upload: missing identity",
        lambda w: _api(w, "post", UPLOAD, {"d": [event(identity=...)]}),
        200,
        '"index": 0, "code": 523',
    ),
    ("upload: ts a string", lambda w: _api(w, "post", UPLOAD, {"d": [event(ts="yesterday")]}), 200, '"code": 525'),
    ("upload: ts negative", lambda w: _api(w, "post", UPLOAD, {"d": [event(ts=-5)]}), 200, '"code": 525'),
    ("upload: ts huge", lambda w: _api(w, "post", UPLOAD, {"d": [event(ts=int(HUGE))]}), 200, '"code": 525'),
    (
        "upload: value too long",
        lambda w: _api(w, "post", UPLOAD, {"d": [event(evtData={"Note": LONG})]}),
        200,
        '"code": 526',
    ),
    ("upload: evtName a number", lambda w: _api(w, "post", UPLOAD, {"d": [event(evtName=5)]}), 200, '"code": 512'),
    ("upload: neither type", lambda w: _api(w, "post", UPLOAD, {"d": [event(type="order")]}), 200, '"code": 524'),
    ("upload: record not an object", lambda w: _api(w, "post", UPLOAD, {"d": ["u1"]}), 200, '"index": 0'),
    (
        "upload: too many properties",
        lambda w: _api(w, "post", UPLOAD, {"d": [event(evtData={f"p{i}": i for i in range(300)})]}),
        200,
        '"code": 522',
    ),
    ("wallet txn: body not JSON", lambda w: _api(w, "post", TXN, raw="points=5"), 400, "JSON object"),
    ("wallet txn: missing identity", lambda w: _api(w, "post", TXN, txn(w, identity=...)), 400, "identity"),
    ("wallet txn: unknown identity", lambda w: _api(w, "post", TXN, txn(w, identity="ghost")), 404, "identity"),
    ("wallet txn: walletId a word", lambda w: _api(w, "post", TXN, txn(w, walletId="gold")), 400, "walletId"),
    ("wallet txn: walletId unknown", lambda w: _api(w, "post", TXN, txn(w, walletId=999999)), 404, "walletId"),
    ("wallet txn: type wrong", lambda w: _api(w, "post", TXN, txn(w, transactionType="GIFT")), 400, "transactionType"),
    ("wallet txn: points a word", lambda w: _api(w, "post", TXN, txn(w, points="ten")), 400, "points"),
    ("wallet txn: points negative", lambda w: _api(w, "post", TXN, txn(w, points=-5)), 400, "points"),
    ("wallet txn: points huge", lambda w: _api(w, "post", TXN, txn(w, points=float(HUGE))), 400, "points"),
    (
        "wallet txn: points NaN",
        lambda w: _api(w, "post", TXN, raw=json.dumps(txn(w)).replace("10", "NaN", 1)),
        400,
        "points",
    ),
    ("wallet txn: decimals", lambda w: _api(w, "post", TXN, txn(w, points=1.5)), 400, "decimal places"),
    ("wallet txn: description long", lambda w: _api(w, "post", TXN, txn(w, description=LONG)), 400, "description"),
    ("wallet txn: metadata a list", lambda w: _api(w, "post", TXN, txn(w, metadata=[1])), 400, "metadata"),
    (
        "wallet txn: delay not ISO",
        lambda w: _api(w, "post", TXN, txn(w, activationDelay="3 days")),
        400,
        "activationDelay",
    ),
    (
        "wallet txn: debit over balance",
        lambda w: _api(w, "post", TXN, txn(w, transactionType="DEBIT")),
        422,
        "exceed the active points",
    ),
    ("wallets: no identity", lambda w: _api(w, "get", "/api/1/promo/wallets"), 400, "identity"),
    (
        "transactions: page negative",
        lambda w: _api(
            w, "get", "/api/1/promo/transactions", {"identity": "u1", "walletId": w["wallet"].pk, "page": "-1"}
        ),
        400,
        "page",
    ),
    (
        "transactions: page a word",
        lambda w: _api(
            w, "get", "/api/1/promo/transactions", {"identity": "u1", "walletId": w["wallet"].pk, "page": "two"}
        ),
        400,
        "page",
    ),
    (
        "coupons apply: no code",
        lambda w: _api(w, "post", "/api/1/promo/coupons/apply", {"identity": "u1", "type": "redeem"}),
        400,
        "code",
    ),
    (
        "coupons apply: bad type",
        lambda w: _api(w, "post", "/api/1/promo/coupons/apply", {"identity": "u1", "code": "X", "type": "steal"}),
        400,
        "type",
    ),
    ("coupons apply: malformed", lambda w: _api(w, "post", "/api/1/promo/coupons/apply", raw="{"), 400, "JSON"),
    (
        "coupon tray: unknown identity",
        lambda w: _api(w, "post", "/api/1/promo/coupons", {"identity": "ghost"}),
        404,
        "ghost",
    ),
    ("vouchers: no identity", lambda w: _api(w, "get", "/api/1/promo/vouchers"), 400, "identity"),
]


@pytest.mark.parametrize(("name", "send", "status", "text"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input_is_refused_with_a_clear_message_and_changes_nothing(world, name, send, status, text):
    before = row_counts()
    response = send(world)
    body = response.content.decode()
    assert (response.status_code, text in body) == (status, True), body[:500]
    assert response.json()["status"] in {"fail", "partial"} or response.json().get("unprocessed")
    assert row_counts() == before


def _as(world, role, method, url, data=None):
    client = Client()
    client.force_login(world[role])
    return (
        getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true") if method == "get" else client.post(url, data)
    )


def voucher_list_form(**changes):
    data = {
        "tag": "summer",
        "name": "Summer",
        "expires_on": FUTURE,
        "low_stock_threshold": "10",
        "file": csv_file(b"code\nA1\nA2\n"),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def wallet_form(**changes):
    data = {
        "name": "Far coins",
        "points_name": "Far",
        "expiry_kind": "after",
        "expiry_value": "30",
        "expiry_unit": "days",
        "consumption_order": "earliest_expiry",
        "rounding_places": "0",
        "rounding_mode": "up",
        "is_active": "on",
    }
    return data | changes


def adjust(w, **changes):
    data = {"kind": "CREDIT", "identity": "u1", "points": "10", "description": "Goodwill"}
    data.update(changes)
    return _as(w, "marketer", "post", f"/wallets/{w['wallet'].pk}/adjust/", data)


def my_list_upload(w, content):
    return _as(w, "partner", "post", f"/partner/lists/{w['my_list'].pk}/upload/", {"file": csv_file(content)})


# (name, request(world) -> response, expected status, text the page must contain)
FORM_CASES = [
    ("adjust: unknown identity", lambda w: adjust(w, identity="ghost"), 422, "No profile has this identity."),
    ("adjust: negative points", lambda w: adjust(w, points="-5"), 422, "Only positive numeric values are allowed."),
    ("adjust: points a word", lambda w: adjust(w, points="ten"), 422, "Only positive numeric values are allowed."),
    ("adjust: huge points", lambda w: adjust(w, points=HUGE), 422, "Only positive numeric values are allowed."),
    ("adjust: decimals", lambda w: adjust(w, points="1.5"), 422, "This wallet allows whole points only."),
    ("adjust: no description", lambda w: adjust(w, description=""), 422, "Enter a description."),
    ("adjust: debit over balance", lambda w: adjust(w, kind="DEBIT"), 422, "active"),
    (
        "voucher list: expiry in the past",
        lambda w: _as(w, "partner", "post", "/partner/lists/new/", voucher_list_form(expires_on=PAST)),
        422,
        "The expiry date cannot be in the past.",
    ),
    (
        "voucher list: tag with spaces",
        lambda w: _as(w, "partner", "post", "/partner/lists/new/", voucher_list_form(tag="summer sale")),
        422,
        "The list tag cannot contain spaces.",
    ),
    (
        "voucher list: negative threshold",
        lambda w: _as(w, "partner", "post", "/partner/lists/new/", voucher_list_form(low_stock_threshold="-1")),
        422,
        "greater than or equal to 0",
    ),
    (
        "voucher list: threshold past an integer column",
        lambda w: _as(w, "partner", "post", "/partner/lists/new/", voucher_list_form(low_stock_threshold=HUGE)),
        422,
        "less than or equal to 2147483647",
    ),
    (
        "coupon: expiry of 2,147,483,647 weeks",
        lambda w: _as(
            w,
            "marketer",
            "post",
            "/coupons/new/",
            {
                "kind": "single",
                "name": "Far",
                "code": "FAR1",
                "expiry_after_value": "2147483647",
                "expiry_after_unit": "weeks",
            },
        ),
        422,
        "At most 100 years: enter at most 5,228 weeks.",
    ),
    (
        "wallet: calendar year 100,000 after issue",
        lambda w: _as(
            w, "marketer", "post", "/wallets/new/", wallet_form(expiry_kind="calendar_year", expiry_value="100000")
        ),
        422,
        "Enter a calendar year at most 100 years after issue.",
    ),
    (
        "wallet: expiry after 200 years",
        lambda w: _as(w, "marketer", "post", "/wallets/new/", wallet_form(expiry_value="200", expiry_unit="years")),
        422,
        "At most 100 years: enter at most 100 years.",
    ),
    (
        "voucher list: date a word",
        lambda w: _as(w, "partner", "post", "/partner/lists/new/", voucher_list_form(expires_on="soon")),
        422,
        "Enter a date like 4 Dec 2026.",
    ),
    (
        "voucher list: not a CSV",
        lambda w: _as(
            w, "partner", "post", "/partner/lists/new/", voucher_list_form(file=csv_file(b"A1", "codes.xlsx"))
        ),
        422,
        "Upload a .csv file.",
    ),
    (
        "voucher upload: other partner's list",
        lambda w: _as(
            w, "partner", "post", f"/partner/lists/{w['their_list'].pk}/upload/", {"file": csv_file(b"A1\n")}
        ),
        404,
        "",
    ),
    (
        "voucher list: other partner's list page",
        lambda w: _as(w, "partner", "get", f"/partner/lists/{w['their_list'].pk}/"),
        404,
        "",
    ),
    (
        "custom list: no name",
        lambda w: _as(
            w, "marketer", "post", "/audience/lists/", {"name": "", "file": csv_file(b"Type,Identity\ni,u1\n")}
        ),
        422,
        "Enter a name for the list.",
    ),
    (
        "custom list: wrong header",
        lambda w: _as(w, "marketer", "post", "/audience/lists/", {"name": "L", "file": csv_file(b"id\nu1\n")}),
        422,
        "The first line must be the header",
    ),
    (
        "custom list: not UTF-8",
        lambda w: _as(
            w,
            "marketer",
            "post",
            "/audience/lists/",
            {"name": "L", "file": csv_file(b"Type,Identity\ni,\xff\xfe\x00u1\n")},
        ),
        422,
        "not UTF-8",
    ),
    (
        "custom list: header only",
        lambda w: _as(w, "marketer", "post", "/audience/lists/", {"name": "L", "file": csv_file(b"Type,Identity\n")}),
        422,
        "no rows",
    ),
    (
        "coupon import: two columns",
        lambda w: _as(w, "marketer", "post", f"/coupons/{w['coupon'].pk}/import/", {"file": csv_file(b"A1,B1\n")}),
        422,
        "Line 1: found 2 columns",
    ),
    (
        "coupon import: not UTF-8",
        lambda w: _as(w, "marketer", "post", f"/coupons/{w['coupon'].pk}/import/", {"file": csv_file(b"A1\n\xff\n")}),
        422,
        "not UTF-8 text (line 2)",
    ),
]


@pytest.mark.parametrize(("name", "send", "status", "text"), FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_form_and_upload_bad_input_is_refused_with_a_clear_message_and_changes_nothing(world, name, send, status, text):
    before = row_counts()
    response = send(world)
    body = response.content.decode()
    assert response.status_code == status, body[:300]
    assert text.replace("'", "&#x27;") in body, body[:3000]
    assert row_counts() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"code,extra\nA1,x\n", "Line 1 has 2 columns. The file must have exactly one column of codes."),
        (b"A1\n\xff\xfe\n", "UTF-8"),
        (b"", "empty"),
    ],
)
def test_a_refused_voucher_file_is_recorded_as_failed_with_its_reason_and_stores_no_codes(world, content, message):
    # Upload history keeps failed uploads (SPEC 3.3), so the upload row is the one change.
    from vouchers.models import VoucherCode, VoucherUpload

    response = my_list_upload(world, content)
    if response.status_code == 302:
        upload = VoucherUpload.objects.get()
        assert upload.status == VoucherUpload.Status.FAILED
        assert message in upload.error_message
    else:  # refused by the form before anything was stored
        assert message in response.content.decode()
        assert VoucherUpload.objects.count() == 0
    assert VoucherCode.objects.count() == 0
    world["my_list"].refresh_from_db()
    assert world["my_list"].codes_total == 0


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/1/nope", "/api/1/wallets/1/balance", "/api/2/promo/wallets"])
def test_an_unknown_api_url_answers_the_json_envelope_with_debug_on_or_off(client, settings, debug, url):
    """With DEBUG on (as under `make run`) Django would answer its technical HTML 404 page."""
    settings.DEBUG = debug
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "fail",
        "code": 404,
        "error": "No such endpoint: see /api/1/docs for the API's URLs.",
    }


def test_an_api_views_own_404_keeps_its_field_with_debug_on(world, settings):
    settings.DEBUG = True
    response = _api(world, "get", "/api/1/promo/wallets", {"identity": "ghost"})
    assert response.status_code == 404 and response.json()["field"] == "identity"


@pytest.mark.parametrize("url", ["/api/1/promo/wallets", "/api/1/promo/vouchers"])
def test_an_unknown_identity_is_a_404_that_names_the_field_on_the_profile_reads(world, url):
    response = _api(world, "get", url, {"identity": "ghost"})
    assert response.status_code == 404
    assert response.json()["field"] == "identity"
