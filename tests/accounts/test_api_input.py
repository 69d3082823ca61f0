"""API input the database cannot store is refused with 400 naming the field, never a 500."""

import json

import pytest

from core import input_checks
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets.models import Lot

pytestmark = pytest.mark.django_db

TXN = "/api/1/promo/wallets/transactions"


def credit(wallet, **changes):
    body = {"identity": "u1", "walletId": wallet.pk, "transactionType": "CREDIT", "points": 5, "description": "x"}
    body.update(changes)
    return body


@pytest.fixture
def wallet():
    ProfileFactory(identity="u1")
    return WalletFactory()


@pytest.mark.parametrize(
    ("raw_changes", "field", "reason"),
    [
        ({"description": "nul \u0000 here"}, "description", input_checks.ERR_NUL),
        ({"orderId": "\ud800"}, "orderId", input_checks.ERR_SURROGATE),
        ({"metadata": {"note": "a\u0000b"}}, "metadata.note", input_checks.ERR_NUL),
        ({"metadata": {"list": [1, {"deep": "\udfff"}]}}, "metadata.list[1].deep", input_checks.ERR_SURROGATE),
        # The key itself is shown with U+FFFD: the answer never carries the NUL back.
        ({"metadata": {"bad\u0000key": 1}}, "metadata.bad\ufffdkey", "key " + input_checks.ERR_NUL),
    ],
)
def test_text_the_database_cannot_store_is_refused_naming_the_field(api_client, wallet, raw_changes, field, reason):
    raw = json.dumps(credit(wallet, **raw_changes))  # json.dumps escapes NUL and lone surrogates
    response = api_client.post(TXN, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"status": "fail", "code": 400, "error": f"{field} {reason}.", "field": field}
    assert not Lot.objects.exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "1e999"])
def test_metadata_numbers_must_be_finite(api_client, wallet, number):
    raw = json.dumps(credit(wallet, metadata={"n": 1})).replace('"n": 1', f'"n": {number}')
    response = api_client.post(TXN, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"] in ("metadata", "metadata.n")  # the parser or the metadata check names it
    assert not Lot.objects.exists()


def test_a_nul_in_a_query_string_is_refused(api_client):
    for url in ("/api/1/promo/wallets", "/api/1/promo/vouchers", "/api/1/promo/campaigns"):
        key = "q" if url.endswith("campaigns") else "identity"
        response = api_client.get(url, {key: "a\x00b"})
        assert response.status_code == 400, url
        assert response.json()["field"] == key


def test_a_body_nested_too_deep_to_parse_is_400(api_client, wallet):
    raw = '{"metadata": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api_client.post(TXN, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == input_checks.ERR_JSON_TOO_DEEP


def test_a_deeply_nested_metadata_that_parses_is_walked_without_recursion(api_client, wallet):
    # Far deeper than MAX_DEPTH, yet parseable from any runner's stack: the parser's limit counts
    # the frames below it too (~1,000 in all), and an xdist worker runs a test some frames deeper.
    deep = "[" * 600 + '"\\u0000"' + "]" * 600
    raw = json.dumps(credit(wallet, metadata={"x": 1})).replace('{"x": 1}', '{"x": ' + deep + "}")
    response = api_client.post(TXN, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["field"].startswith("metadata.x[0]")
