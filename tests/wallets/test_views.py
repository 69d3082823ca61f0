"""Wallet screens: list, create / edit (expiry frozen), detail with chart, transactions, adjust."""

from decimal import Decimal

import pytest

from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import forms, services
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


def test_wallet_list_shows_columns_without_n_plus_one(marketer_client, marketer, django_assert_max_num_queries):
    for n in range(5):
        services.wallet_create(actor=marketer, name=f"W{n}", points_name="Coins")
    with django_assert_max_num_queries(8):
        response = marketer_client.get("/wallets/")
    text = response.content.decode()
    assert "W4" in text and "Coins" in text and "maya" in text.lower() or "Test" in text


def test_create_wallet_and_history(marketer_client):
    response = marketer_client.post(
        "/wallets/new/",
        {
            "name": "Supercoins",
            "points_name": "Supercoins",
            "expiry_kind": "after",
            "expiry_value": 30,
            "expiry_unit": "days",
            "consumption_order": "earliest_expiry",
            "rounding_places": 2,
            "rounding_mode": "up",
            "is_active": "on",
        },
    )
    wallet = Wallet.objects.get(name="Supercoins")
    assert response.status_code == 302
    assert (wallet.expiry_value, wallet.rounding_places, wallet.created_by.username) == (30, 2, "maya")
    assert "created the wallet" in marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()


def test_create_wallet_requires_a_complete_expiry_rule(marketer_client):
    response = marketer_client.post(
        "/wallets/new/",
        {
            "name": "X",
            "points_name": "X",
            "expiry_kind": "after",
            "consumption_order": "earliest_expiry",
            "rounding_places": 0,
            "rounding_mode": "down",
        },
    )
    assert response.status_code == 200
    assert forms.ERR_EXPIRY_UNIT in response.content.decode()
    assert not Wallet.objects.exists()


def test_edit_wallet_cannot_change_the_expiry_rule(marketer_client):
    wallet = WalletFactory(expiry_kind="never")
    response = marketer_client.post(
        f"/wallets/{wallet.pk}/edit/",
        {
            "name": wallet.name,
            "points_name": "Gems",
            "expiry_kind": "after",
            "expiry_value": 5,
            "expiry_unit": "days",
            "consumption_order": "earliest_issuance",
            "rounding_places": 1,
            "rounding_mode": "up",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    wallet.refresh_from_db()
    assert (wallet.points_name, wallet.expiry_kind, wallet.expiry_value) == ("Gems", "never", None)
    assert wallet.changes.get().changes["points_name"] == ["Supercoins", "Gems"]


def test_admin_cannot_change_the_expiry_rule(admin_client_):
    wallet = WalletFactory(expiry_kind="never")
    page = admin_client_.get(f"/admin/wallets/wallet/{wallet.pk}/change/").content.decode()
    assert 'name="expiry_kind"' not in page
    for path in ("wallet", "lot", "transaction", "consumption", "walletchange", "idempotencyrecord"):
        assert admin_client_.get(f"/admin/wallets/{path}/").status_code == 200


def test_detail_shows_totals_and_chart_and_htmx_returns_the_chart_partial(marketer_client):
    wallet, profile = WalletFactory(), ProfileFactory()
    services.wallet_credit(wallet=wallet, profile=profile, points=Decimal(12), source="API")
    page = marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()
    assert 'id="total-active">12<' in page and "<svg" in page
    partial = marketer_client.get(f"/wallets/{wallet.pk}/?days=7", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="wallet-chart"' in partial and "<html" not in partial and "issued 12" in partial


def test_transactions_filters_and_htmx_partial(marketer_client):
    wallet = WalletFactory()
    a, b = ProfileFactory(identity="alice"), ProfileFactory(identity="bob")
    services.wallet_credit(wallet=wallet, profile=a, points=Decimal(5), source="API")
    services.wallet_credit(wallet=wallet, profile=b, points=Decimal(50), source="MANUAL")
    url = f"/wallets/{wallet.pk}/transactions/"
    text = marketer_client.get(url, {"q": "ali"}).content.decode()
    assert "alice" in text and "bob" not in text
    partial = marketer_client.get(url, {"points_min": 10}, HTTP_HX_REQUEST="true").content.decode()
    assert (
        'id="transaction-table"' in partial and "<html" not in partial and "bob" in partial and "alice" not in partial
    )
    assert "alice" not in marketer_client.get(url, {"source": "MANUAL"}).content.decode()
    txn = Transaction.objects.get(profile=a)
    assert "bob" not in marketer_client.get(url, {"q": str(txn.pk)}).content.decode()


def test_adjust_points_credit_debit_and_errors(marketer_client):
    wallet = WalletFactory(rounding_places=1)
    ProfileFactory(identity="u1")
    url = f"/wallets/{wallet.pk}/adjust/"
    response = marketer_client.post(
        url, {"kind": "CREDIT", "identity": "u1", "points": "10", "description": "Goodwill"}
    )
    assert response.status_code == 302
    txn = Transaction.objects.get()
    assert (txn.source, txn.actor.username) == ("MANUAL", "maya")
    cases = [
        ({"kind": "DEBIT", "identity": "u1", "points": "10.5", "description": "x"}, services.ERR_INSUFFICIENT_BALANCE),
        ({"kind": "CREDIT", "identity": "", "points": "1", "description": "x"}, forms.ERR_IDENTITY_REQUIRED),
        ({"kind": "CREDIT", "identity": "ghost", "points": "1", "description": "x"}, forms.ERR_IDENTITY_UNKNOWN),
        ({"kind": "CREDIT", "identity": "u1", "points": "-1", "description": "x"}, forms.ERR_POINTS_POSITIVE),
        (
            {"kind": "CREDIT", "identity": "u1", "points": "1.25", "description": "x"},
            "This wallet allows at most 1 decimal places.",
        ),
        ({"kind": "CREDIT", "identity": "u1", "points": "1", "description": ""}, forms.ERR_DESCRIPTION_REQUIRED),
    ]
    for data, message in cases:
        partial = marketer_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
        assert 'id="adjust-form"' in partial and "<html" not in partial
        assert message.replace("'", "&#x27;") in partial
    assert Transaction.objects.count() == 1
    ok = marketer_client.post(
        url, {"kind": "DEBIT", "identity": "u1", "points": "4", "description": "Fix"}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 204 and ok["HX-Redirect"] == f"/wallets/{wallet.pk}/transactions/"
