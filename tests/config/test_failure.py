"""The database going away mid-request: a clean error page or JSON, and no partial write."""

import base64
import contextlib
import json

import pytest
from django.db import OperationalError, connection
from django.test import Client

from accounts.models import IdempotencyRecord
from config.errors import DATABASE_UNAVAILABLE
from tests.factories import ApiKeyFactory, UserFactory
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets.models import Lot, Transaction

pytestmark = pytest.mark.django_db(transaction=True)


@contextlib.contextmanager
def database_dies_on(statement_prefix: str):
    """Every statement starting with `statement_prefix` fails as if the server had gone away,
    after the statements before it in the same transaction have run."""
    seen = []

    def wrapper(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(statement_prefix.upper()):
            seen.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield seen


def ledger_rows():
    return (Lot.objects.count(), Transaction.objects.count(), IdempotencyRecord.objects.count())


@pytest.fixture
def wallet_and_profile():
    return WalletFactory(), ProfileFactory(identity="u1")


def test_database_lost_during_a_points_adjustment_shows_a_clean_page_and_writes_nothing(wallet_and_profile):
    wallet, _profile = wallet_and_profile
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="maya", groups=["Marketer"]))
    before = ledger_rows()

    # The lot is inserted first; the ledger transaction row after it fails.
    with database_dies_on('INSERT INTO "wallets_transaction"') as failed:
        response = client.post(
            f"/wallets/{wallet.pk}/adjust/",
            {"kind": "CREDIT", "identity": "u1", "points": "10", "description": "Goodwill"},
        )

    assert failed, "the injected failure never fired: the service no longer writes the ledger"
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Temporarily unavailable" in page
    assert DATABASE_UNAVAILABLE.replace("'", "&#x27;") in page
    assert "Traceback" not in page and "OperationalError" not in page
    assert ledger_rows() == before  # the lot written before the failure was rolled back


def test_database_lost_during_an_api_credit_answers_json_503_and_a_retry_succeeds(wallet_and_profile):
    wallet, _profile = wallet_and_profile
    key, secret = ApiKeyFactory.create_with_secret()
    token = base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Basic {token}")
    body = {"identity": "u1", "walletId": wallet.pk, "transactionType": "CREDIT", "points": 5, "description": "x"}
    before = ledger_rows()

    def send():
        return client.post(
            "/api/1/promo/wallets/transactions",
            data=json.dumps(body),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="order-1",
        )

    with database_dies_on('INSERT INTO "wallets_transaction"'):
        response = send()

    assert response.status_code == 503
    assert response.json() == {"status": "fail", "code": 503, "error": DATABASE_UNAVAILABLE}
    assert ledger_rows() == before  # nor an idempotency record that would replay a failure
    # The app retries with the same key once the database is back, and is credited once.
    assert send().status_code == 200
    assert Transaction.objects.filter(profile__identity="u1").count() == 1


def test_any_other_error_shows_the_500_page_without_details(monkeypatch):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="maya", groups=["Marketer"]))

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("segments.selectors.profile_search", explode)
    response = client.get("/audience/profiles/", {"q": "u1"})

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "secret internals" not in page and "Traceback" not in page
