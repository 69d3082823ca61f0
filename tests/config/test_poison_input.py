"""Poison input (issue 15): what PostgreSQL cannot store — NUL, unpaired surrogates, Infinity / NaN,
numbers out of range, absurd nesting — is refused where it comes in, by one validator
(core/input_checks.py), and never becomes a 500 or a stuck upload.

- the upload API: one poisoned record in a batch answers 200 `partial` with that record's code
  and stores the others; a body too deep to parse is a 400 JSON answer;
- the other JSON APIs: 400 JSON naming the field, nothing written;
- the CSV uploads: the poisoned row is reported in the error file (custom lists, voucher lists)
  or names its line (coupon imports, refused whole); an unforeseen failure ends as Failed.
"""

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core import input_checks
from segments.models import Event, Profile
from tests.config.test_bad_input import row_counts, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

UPLOAD = "/api/1/upload"
TXN = "/api/1/promo/wallets/transactions"
NUL, LONE = "\x00", "\ud800"


def client_for(world):  # noqa: F811
    return Client(HTTP_AUTHORIZATION=world["auth"], raise_request_exception=False)


def event(identity="u1", **changes):
    record = {"type": "event", "identity": identity, "ts": 1_700_000_000, "evtName": "Charged", "evtData": {"A": 1}}
    record.update(changes)
    return record


# (case, the poisoned record, expected code, text of its error); json.dumps writes NUL and lone
# surrogates as \u escapes and non-finite floats as the Infinity / NaN literals, as a client would.
POISON_RECORDS = [
    ("NUL in identity", event(identity=f"u{NUL}9"), 512, '"identity" contains a NUL'),
    ("NUL in evtName", event(evtName=f"Char{NUL}ged"), 512, '"evtName" contains a NUL'),
    ("NUL in a property key", event(evtData={f"Am{NUL}ount": 1}), 512, "key contains a NUL"),
    ("NUL in a property value", event(evtData={"Note": f"a{NUL}b"}), 512, '"evtData.Note" contains a NUL'),
    ("NUL in a profile property", {"type": "profile", "identity": "u9", "profileData": {"City": NUL}}, 512, "NUL"),
    ("NUL in evtId", event(evtId=f"e{NUL}1"), 512, '"evtId" contains a NUL'),
    ("lone surrogate in a value", event(evtData={"Note": f"x{LONE}"}), 512, "unpaired surrogate"),
    ("lone surrogate in identity", event(identity=f"u{LONE}"), 512, "unpaired surrogate"),
    ("lone surrogate in a key", event(evtData={f"k{LONE}": 1}), 512, "unpaired surrogate"),
    ("Infinity", event(evtData={"Amount": float("inf")}), 512, "not a finite number"),
    ("-Infinity", event(evtData={"Amount": float("-inf")}), 512, "not a finite number"),
    ("NaN", event(evtData={"Amount": float("nan")}), 512, "not a finite number"),
    ("1e400 (beyond a double)", event(evtData={"Amount": "__1e400__"}), 512, "not a finite number"),
    ("a 200-digit integer", event(evtData={"Amount": "__" + "9" * 200 + "__"}), 512, "not a finite number"),
]


def poisoned_batch(record) -> str:
    body = json.dumps({"d": [event("good-1"), record, event("good-2")]})
    return body.replace('"__', "").replace('__"', "")  # raw number literals JSON cannot spell from Python


@pytest.mark.parametrize(("case", "record", "code", "text"), POISON_RECORDS, ids=[c[0] for c in POISON_RECORDS])
def test_a_poisoned_record_is_reported_and_the_rest_of_the_batch_is_stored(world, case, record, code, text):  # noqa: F811
    response = client_for(world).post(UPLOAD, data=poisoned_batch(record), content_type="application/json")

    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert (body["status"], body["processed"]) == ("partial", 2)
    [refused] = body["unprocessed"]
    assert (refused["index"], refused["code"]) == (1, code)
    assert text in refused["error"], refused["error"]
    assert set(Event.objects.values_list("profile__identity", flat=True)) == {"good-1", "good-2"}
    assert set(Profile.objects.values_list("identity", flat=True)) == {"u1", "good-1", "good-2"}


def test_a_body_nested_too_deep_to_parse_is_a_400_json_answer_and_stores_nothing(world):  # noqa: F811
    before = row_counts()
    depth = 100_000
    body = '{"d": [' + json.dumps(event("good-1")) + ', {"x": ' + "[" * depth + "]" * depth + "}]}"

    response = client_for(world).post(UPLOAD, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"status": "fail", "code": 400, "error": input_checks.ERR_JSON_TOO_DEEP}
    assert row_counts() == before


def test_nesting_the_parser_can_read_is_refused_per_record(world):  # noqa: F811
    deep = {"x": 1}
    for _ in range(input_checks.MAX_DEPTH + 5):
        deep = {"x": deep}
    response = client_for(world).post(
        UPLOAD,
        data=json.dumps({"d": [event(evtData={"Nested": deep}), event("good-1")]}),
        content_type="application/json",
    )
    body = response.json()
    assert (response.status_code, body["status"], body["unprocessed"][0]["code"]) == (200, "partial", 512)
    assert Event.objects.count() == 1


def basic(key_id: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:not-the-secret".encode()).decode()


def wallet_txn(world, **changes):  # noqa: F811
    body = {"identity": "u1", "walletId": world["wallet"].pk, "transactionType": "CREDIT", "points": 10}
    body["description"] = "Goodwill"
    body.update(changes)
    return body


def txn(raw=None, **changes):
    """POST a wallet transaction with `changes`; `raw` edits the JSON text (literals Python cannot spell)."""

    def send(w, c):
        body = json.dumps(wallet_txn(w, **changes))
        for old, new in (raw or {}).items():
            body = body.replace(old, new)
        return c.post(TXN, body, "application/json")

    return send


def post(url, body):
    return lambda w, c: c.post(url, body if isinstance(body, str) else json.dumps(body), "application/json")


def get(url, params):
    return lambda w, c: c.get(url, {k: (v(w) if callable(v) else v) for k, v in params.items()})


DEEP = "[" * 100_000 + "]" * 100_000
COUPONS = "/api/1/promo/coupons"


def bad_key_id(w, c):
    return Client().get("/api/1/promo/vouchers", {"identity": "u1"}, HTTP_AUTHORIZATION=basic(f"pk_{NUL}"))


# (case, request(world, client) -> response, expected status, the field named)
API_POISON = [
    ("wallet txn: NUL in identity", txn(identity=f"u1{NUL}"), 400, "identity"),
    ("wallet txn: NUL in description", txn(description=f"a{NUL}"), 400, "description"),
    ("wallet txn: lone surrogate in description", txn(description=f"a{LONE}"), 400, "description"),
    ("wallet txn: NUL in metadata value", txn(metadata={"k": NUL}), 400, "metadata"),
    ("wallet txn: NUL in metadata key", txn(metadata={NUL: 1}), 400, "metadata"),
    ("wallet txn: Infinity in metadata", txn(metadata={"k": float("inf")}), 400, "metadata"),
    ("wallet txn: 1e400 in metadata", txn(metadata={"k": "@"}, raw={'"@"': "1e400"}), 400, "metadata"),
    ("wallet txn: NUL in orderId", txn(orderId=f"o{NUL}"), 400, "orderId"),
    ("wallet txn: nested too deep to parse", post(TXN, '{"metadata": ' + DEEP + "}"), 400, None),
    ("wallets: NUL in identity", get("/api/1/promo/wallets", {"identity": f"u1{NUL}"}), 400, "identity"),
    (
        "transactions: NUL in identity",
        get("/api/1/promo/transactions", {"identity": NUL, "walletId": lambda w: w["wallet"].pk}),
        400,
        "identity",
    ),
    ("coupon tray: NUL in identity", post(COUPONS, {"identity": f"u1{NUL}"}), 400, "identity"),
    (
        "coupons apply: NUL in code",
        post(f"{COUPONS}/apply", {"identity": "u1", "code": f"C{NUL}", "type": "redeem"}),
        400,
        "code",
    ),
    ("coupons apply: nested too deep to parse", post(f"{COUPONS}/apply", DEEP), 400, None),
    ("vouchers: NUL in identity", get("/api/1/promo/vouchers", {"identity": f"u1{NUL}"}), 400, "identity"),
    ("any API: NUL in the key id", bad_key_id, 401, None),
]


@pytest.mark.parametrize(("case", "send", "status", "field"), API_POISON, ids=[c[0] for c in API_POISON])
def test_a_poisoned_api_field_is_a_json_error_naming_it_and_changes_nothing(world, case, send, status, field):  # noqa: F811
    before = row_counts()
    response = send(world, client_for(world))

    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["status"] == "fail"
    if field is not None:  # the field, or the path inside it ("metadata.k")
        assert body["field"] == field or body["field"].startswith((f"{field}.", f"{field}["))
    assert row_counts() == before


# --- CSV uploads ---------------------------------------------------------------------------


def csv_file(content: bytes, name: str = "upload.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_a_custom_list_row_with_a_nul_is_an_invalid_row_in_the_error_file_and_the_list_completes(world):  # noqa: F811
    from segments import services
    from segments.models import CustomListUpload

    upload = services.custom_list_upload_start(
        uploaded_file=csv_file(b"Type,Identity\ni,u1\ni,u\x002\ni\x00,u3\n"), actor=world["marketer"], name="VIPs"
    )
    upload = services.custom_list_process(upload_id=upload.pk)

    assert upload.status == CustomListUpload.Status.COMPLETED
    assert (upload.matched, upload.invalid) == (1, 2)
    assert "\x00" not in upload.error_rows
    assert upload.error_rows.count("Row contains a NUL character") == 2
    assert '"3"' in upload.error_rows and '"4"' in upload.error_rows  # the file's line numbers


def test_a_custom_list_upload_that_fails_unforeseen_ends_failed_not_in_progress(world, monkeypatch):  # noqa: F811
    from django.db import DataError

    from segments import services
    from segments.models import CustomListUpload

    upload = services.custom_list_upload_start(
        uploaded_file=csv_file(b"Type,Identity\ni,u1\n"), actor=world["marketer"], name="VIPs"
    )

    def broken(fileobj):
        raise DataError("something PostgreSQL refused")

    monkeypatch.setattr(services.custom_lists, "_rows", broken)
    upload = services.custom_list_process(upload_id=upload.pk)

    assert (upload.status, upload.error) == (CustomListUpload.Status.FAILED, services.ERR_CSV_FAILED)


def test_a_voucher_file_with_a_nul_reports_the_row_and_is_never_a_500(world):  # noqa: F811
    from vouchers.models import VoucherCode, VoucherUpload

    client = Client(raise_request_exception=False)
    client.force_login(world["partner"])
    response = client.post(
        f"/partner/lists/{world['my_list'].pk}/upload/", {"file": csv_file(b"code\nGOOD1\nBA\x00D\nGOOD2\n")}
    )

    assert response.status_code == 302
    upload = VoucherUpload.objects.get()
    assert (upload.status, upload.codes_valid, upload.bad_rows) == (VoucherUpload.Status.AWAITING_CONFIRMATION, 2, 1)
    errors = upload.error_file.read().decode()
    assert "Code contains a NUL character" in errors and "BA\ufffdD" in errors
    assert VoucherCode.objects.count() == 0  # nothing stored before the partner confirms


def test_a_voucher_upload_that_fails_unforeseen_ends_failed_not_validating(world, monkeypatch):  # noqa: F811
    from vouchers import services
    from vouchers.models import VoucherUpload

    def broken(cursor, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services.staging, "mark_duplicates", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world["partner"])
    response = client.post(f"/partner/lists/{world['my_list'].pk}/upload/", {"file": csv_file(b"code\nA1\n")})

    assert response.status_code == 302
    upload = VoucherUpload.objects.get()
    assert (upload.status, upload.error_message) == (VoucherUpload.Status.FAILED, services.ERR_VALIDATION_FAILED)


def test_a_coupon_import_with_a_nul_is_refused_naming_its_line(world):  # noqa: F811
    client = Client(raise_request_exception=False)
    client.force_login(world["marketer"])
    before = row_counts()
    response = client.post(f"/coupons/{world['coupon'].pk}/import/", {"file": csv_file(b"A1\nA2\nB\x003\n")})

    assert response.status_code == 422
    assert "Line 3 contains a NUL character" in response.content.decode()
    assert row_counts() == before
