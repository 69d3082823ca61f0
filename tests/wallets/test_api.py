"""The wallet API (SPEC 7): balances, transactions, credit / debit with Idempotency-Key."""

from decimal import Decimal

import pytest
from django.db import connection, transaction

from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import api_schemas, services
from wallets.models import Lot, Transaction

pytestmark = pytest.mark.django_db

URL = "/api/1/promo/wallets/transactions"


@pytest.fixture
def setup():
    wallet = WalletFactory(rounding_places=2)
    profile = ProfileFactory(identity="u1")
    return wallet, profile


def body(wallet, **overrides):
    data = {"identity": "u1", "walletId": wallet.pk, "transactionType": "CREDIT", "points": 10, "description": "Hi"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, key=None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(URL, data, content_type="application/json", **extra)


def test_credit_then_balances_and_transactions(api_client, setup):
    wallet, profile = setup
    response = post(api_client, body(wallet, points=10.5, metadata={"sale": 1}, orderId="o-1"))
    assert response.status_code == 200
    data = response.json()
    assert data["transaction"]["transactionType"] == "CREDIT"
    assert data["transaction"]["points"] == 10.5
    assert data["balance"]["activePoints"] == 10.5
    assert post(api_client, body(wallet, transactionType="DEBIT", points=3)).status_code == 200
    wallets = api_client.get("/api/1/promo/wallets", {"identity": "u1"}).json()
    assert wallets == {
        "status": "success",
        "records": [
            {
                "walletId": wallet.pk,
                "walletName": wallet.name,
                "pointsName": "Supercoins",
                "activePoints": 7.5,
                "promisedPoints": 0,
                "creditedPoints": 10.5,
                "expiredPoints": 0,
                "redeemedPoints": 3,
            }
        ],
    }
    txns = api_client.get("/api/1/promo/transactions", {"identity": "u1", "walletId": wallet.pk}).json()
    assert [t["transactionType"] for t in txns["records"]] == ["DEBIT", "CREDIT"]
    assert txns["records"][1]["metadata"] == {"sale": 1} and txns["records"][1]["orderId"] == "o-1"


def test_activation_delay_makes_points_promised(api_client, setup):
    wallet, _ = setup
    data = post(api_client, body(wallet, activationDelay="P3D")).json()
    assert data["transaction"]["transactionType"] == "SCHEDULED"
    assert data["balance"]["promisedPoints"] == 10 and data["balance"]["activePoints"] == 0


@pytest.mark.parametrize(
    ("overrides", "status", "field", "error"),
    [
        ({"identity": None}, 400, "identity", "identity is required."),
        ({"identity": "nobody"}, 404, "identity", api_schemas.ERR_IDENTITY_UNKNOWN),
        ({"walletId": None}, 400, "walletId", "walletId is required."),
        ({"walletId": "abc"}, 400, "walletId", api_schemas.ERR_WALLET_ID),
        ({"walletId": 999999}, 404, "walletId", api_schemas.ERR_WALLET_ID),
        ({"transactionType": "REFUND"}, 400, "transactionType", api_schemas.ERR_TYPE),
        ({"points": "ten"}, 400, "points", api_schemas.ERR_POINTS_NUMERIC),
        ({"points": True}, 400, "points", api_schemas.ERR_POINTS_NUMERIC),
        ({"points": -5}, 400, "points", api_schemas.ERR_POINTS_POSITIVE),
        ({"points": 0}, 400, "points", api_schemas.ERR_POINTS_POSITIVE),
        ({"points": 1.005}, 400, "points", "points can have at most 2 decimal places in this wallet."),
        ({"points": 10**13}, 400, "points", api_schemas.ERR_POINTS_TOO_BIG),
        ({"description": None}, 400, "description", "description is required."),
        ({"description": "  "}, 400, "description", "description is required."),
        ({"description": "x" * 501}, 400, "description", api_schemas.ERR_DESCRIPTION),
        ({"metadata": {}}, 400, "metadata", api_schemas.ERR_METADATA_EMPTY),
        ({"metadata": [1]}, 400, "metadata", api_schemas.ERR_METADATA),
        ({"orderId": 5}, 400, "orderId", api_schemas.ERR_ORDER_ID),
        ({"activationDelay": "3 days"}, 400, "activationDelay", api_schemas.ERR_DELAY),
        ({"activationDelay": "P"}, 400, "activationDelay", api_schemas.ERR_DELAY),
        ({"activationDelay": "P20Y"}, 400, "activationDelay", api_schemas.ERR_DELAY),
        ({"transactionType": "DEBIT", "activationDelay": "P1D"}, 400, "activationDelay", api_schemas.ERR_DELAY_DEBIT),
    ],
)
def test_every_field_error_names_the_field_and_moves_nothing(api_client, setup, overrides, status, field, error):
    wallet, _ = setup
    data = body(wallet)
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    response = post(api_client, data)
    assert response.status_code == status
    assert response.json() == {"status": "fail", "code": status, "error": error, "field": field}
    assert not Transaction.objects.exists()


def test_debit_over_the_active_balance_is_refused(api_client, setup):
    wallet, _ = setup
    response = post(api_client, body(wallet, transactionType="DEBIT", points=1))
    assert response.status_code == 422
    assert response.json()["error"] == services.ERR_INSUFFICIENT_BALANCE
    assert response.json()["field"] == "points"


def test_credit_to_an_inactive_wallet_is_refused(api_client, setup):
    wallet, _ = setup
    wallet.is_active = False
    wallet.save()
    response = post(api_client, body(wallet))
    assert (response.status_code, response.json()["field"]) == (422, "walletId")


def test_malformed_json_and_auth(api_client, setup):
    from django.test import Client

    client = Client()
    wallet, _ = setup
    assert api_client.post(URL, "{nope", content_type="application/json").status_code == 400
    assert api_client.post(URL, "[1]", content_type="application/json").json()["error"] == api_schemas.ERR_JSON
    assert client.post(URL, body(wallet), content_type="application/json").status_code == 401
    assert client.get("/api/1/promo/wallets", {"identity": "u1"}).status_code == 401
    assert api_client.get(URL).status_code == 405


def test_idempotency_key_replays_the_first_response_and_moves_once(api_client, setup):
    wallet, _ = setup
    first = post(api_client, body(wallet), key="k-1")
    again = post(api_client, body(wallet), key="k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert Lot.objects.count() == 1
    # A stored refusal replays too.
    refused = post(api_client, body(wallet, transactionType="DEBIT", points=50), key="k-2")
    post(api_client, body(wallet), key="k-3")
    replay = post(api_client, body(wallet, transactionType="DEBIT", points=50), key="k-2")
    assert (replay.status_code, replay.json()) == (refused.status_code, refused.json()) == (422, refused.json())


def test_idempotency_key_with_a_different_body_is_refused(api_client, setup):
    wallet, _ = setup
    post(api_client, body(wallet), key="k-1")
    response = post(api_client, body(wallet, points=11), key="k-1")
    assert response.status_code == 422
    assert response.json()["error"] == api_schemas.ERR_KEY_REUSED
    assert Lot.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_idempotency_key_in_flight_gets_409(api_client, api_key, setup):
    import threading

    wallet, _ = setup
    key, _secret = api_key
    held, release = threading.Event(), threading.Event()

    def hold_lock():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [key.pk, "busy"])
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=hold_lock)
    thread.start()
    held.wait(10)
    try:
        response = post(api_client, body(wallet), key="busy")
    finally:
        release.set()
        thread.join()
    assert response.status_code == 409
    assert response.json()["error"] == api_schemas.ERR_KEY_IN_FLIGHT
    assert not Lot.objects.exists()
    assert post(api_client, body(wallet), key="busy").status_code == 200


def test_transactions_paging_and_errors(api_client, setup):
    wallet, profile = setup
    for _ in range(51):
        services.wallet_credit(wallet=wallet, profile=profile, points=Decimal(1), source="API")
    page2 = api_client.get("/api/1/promo/transactions", {"identity": "u1", "walletId": wallet.pk, "page": 2}).json()
    assert (page2["page"], page2["totalPages"], len(page2["records"])) == (2, 2, 1)
    bad = api_client.get("/api/1/promo/transactions", {"identity": "u1", "walletId": wallet.pk, "page": "0"})
    assert (bad.status_code, bad.json()["field"]) == (400, "page")
    missing = api_client.get("/api/1/promo/transactions", {"identity": "u1"})
    assert (missing.status_code, missing.json()["field"]) == (400, "walletId")


def test_an_idempotent_replay_returns_the_first_response_byte_for_byte(api_client, setup):
    wallet, _ = setup
    first = post(api_client, body(wallet, metadata={"zeta": 1, "alpha": {"b": 2, "a": 1}}, orderId="o-9"), key="k-1")
    again = post(api_client, body(wallet, metadata={"zeta": 1, "alpha": {"b": 2, "a": 1}}, orderId="o-9"), key="k-1")
    assert first.status_code == again.status_code == 200
    # jsonb would hand the keys back reordered ("status" after "balance"): the stored bytes are replayed.
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert list(again.json()) == ["status", "transaction", "balance"]
    assert Lot.objects.count() == 1


def test_a_replayed_refusal_is_byte_identical_too(api_client, setup):
    wallet, _ = setup
    refused = post(api_client, body(wallet, transactionType="DEBIT", points=50), key="k-2")
    replay = post(api_client, body(wallet, transactionType="DEBIT", points=50), key="k-2")
    assert refused.status_code == replay.status_code == 422
    assert replay.content == refused.content


def test_a_record_stored_before_exact_bytes_replays_from_its_json(api_client, api_key, setup):
    from accounts.idempotency import fingerprint
    from accounts.models import IdempotencyRecord

    wallet, _ = setup
    key, _secret = api_key
    data = body(wallet)
    IdempotencyRecord.objects.create(
        api_key=key, key="old", fingerprint=fingerprint(data), response_status=200, response_body={"status": "success"}
    )
    replay = post(api_client, data, key="old")
    assert (replay.status_code, replay.json()) == (200, {"status": "success"})
    assert not Lot.objects.exists()


def test_wallets_lists_every_active_wallet_with_zeros_for_a_profile_without_lots(api_client):
    first, second = WalletFactory(points_name="Supercoins"), WalletFactory(points_name="Stars")
    retired = WalletFactory(is_active=False)
    ProfileFactory(identity="new-user")
    response = api_client.get("/api/1/promo/wallets", {"identity": "new-user"})
    assert response.status_code == 200
    zeros = dict.fromkeys(["activePoints", "promisedPoints", "creditedPoints", "expiredPoints", "redeemedPoints"], 0)
    assert response.json() == {
        "status": "success",
        "records": [
            {"walletId": first.pk, "walletName": first.name, "pointsName": "Supercoins", **zeros},
            {"walletId": second.pk, "walletName": second.name, "pointsName": "Stars", **zeros},
        ],
    }
    assert retired.pk not in [r["walletId"] for r in response.json()["records"]]


def test_wallets_keeps_an_inactive_wallet_the_profile_holds_points_in(api_client, setup):
    wallet, profile = setup
    services.wallet_credit(wallet=wallet, profile=profile, points=Decimal(4), source="API")
    wallet.is_active = False
    wallet.save()
    other = WalletFactory()
    records = api_client.get("/api/1/promo/wallets", {"identity": "u1"}).json()["records"]
    assert [(r["walletId"], r["activePoints"]) for r in records] == [(wallet.pk, 4), (other.pk, 0)]


def test_wallets_for_an_unknown_identity_is_404(api_client):
    WalletFactory()
    response = api_client.get("/api/1/promo/wallets", {"identity": "ghost"})
    assert response.status_code == 404
    assert response.json() == {
        "status": "fail",
        "code": 404,
        "error": api_schemas.ERR_IDENTITY_UNKNOWN,
        "field": "identity",
    }


def test_an_idempotency_key_over_255_characters_is_refused_naming_the_header(api_client, setup):
    wallet, _ = setup
    response = post(api_client, body(wallet), key="k" * 256)
    assert response.status_code == 400
    assert response.json() == {
        "status": "fail",
        "code": 400,
        "error": api_schemas.ERR_KEY_TOO_LONG,
        "field": "Idempotency-Key",
    }
    assert not Lot.objects.exists()
