"""Wallet screens: list, create / edit (expiry frozen), detail with chart, transactions, adjust."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import dateformat, timezone

from accounts.account import account_tzinfo
from tests.factories import UserFactory
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import forms, services
from wallets.models import Transaction, Wallet

pytestmark = pytest.mark.django_db


def _wallet_rows(html: str) -> list[list[str]]:
    """The wallet table's body rows as lists of cell texts (tags stripped)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows
    ]


def test_wallet_list_shows_what_a_marketer_sees_in_constant_queries(marketer_client, marketer):
    other = UserFactory(username="olu", first_name="Olu", last_name="Bello")
    created = datetime.datetime(2026, 3, 4, 9, 30, tzinfo=datetime.UTC)
    first = services.wallet_create(actor=marketer, name="Supercoins", points_name="Coins")
    second = services.wallet_create(actor=other, name="Gems", points_name="Gems")
    Wallet.objects.filter(pk=first.pk).update(created_at=created)
    Wallet.objects.filter(pk=second.pk).update(created_at=created + datetime.timedelta(days=1), is_active=False)
    local = timezone.localtime(created, account_tzinfo())

    response = marketer_client.get("/wallets/")

    assert response.status_code == 200
    assert _wallet_rows(response.content.decode()) == [
        [
            str(second.pk),
            "Gems",
            "Gems",
            "Inactive",
            dateformat.format(local + datetime.timedelta(days=1), "j M Y, H:i"),
            "Olu Bello",
        ],
        [
            str(first.pk),
            "Supercoins",
            "Coins",
            "Active",
            dateformat.format(local, "j M Y, H:i"),
            marketer.get_full_name(),
        ],
    ]

    with CaptureQueriesContext(connection) as few:
        marketer_client.get("/wallets/")
    for n in range(20):
        services.wallet_create(actor=UserFactory(), name=f"W{n}", points_name="Coins")
    with CaptureQueriesContext(connection) as many:
        response = marketer_client.get("/wallets/")
    assert len(_wallet_rows(response.content.decode())) == 22
    assert len(many) == len(few) <= 8


def test_wallet_list_empty_state(marketer_client):
    response = marketer_client.get("/wallets/")
    assert "No wallets yet" in response.content.decode()


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
    assert response.status_code == 422  # the form again, with its errors
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
    for path in ("wallet", "lot", "transaction", "consumption", "walletchange"):
        assert admin_client_.get(f"/admin/wallets/{path}/").status_code == 200
    # The API's idempotency records live in accounts (every app's endpoints can use them).
    assert admin_client_.get("/admin/accounts/idempotencyrecord/").status_code == 200


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
            "This wallet allows at most 1 decimal place.",
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
    assert ok.status_code == 200 and ok["HX-Redirect"] == f"/wallets/{wallet.pk}/transactions/"


def _history_texts(html: str) -> list[str]:
    section = html.split('id="wallet-history"', 1)[1].split("</ul>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", li)).strip() for li in re.findall(r"<li>(.*?)</li>", section, re.S)
    ]


def test_wallet_detail_history_is_paginated_newest_first_in_constant_queries(marketer_client, marketer):
    wallet = services.wallet_create(actor=marketer, name="Paged", points_name="Coins", rounding_places=0)
    profile = ProfileFactory(identity="paged-user")

    def adjust(n):
        services.wallet_adjust(
            wallet=wallet, profile=profile, kind="CREDIT", points=Decimal(n), description=f"gift {n}", actor=marketer
        )

    adjust(1)
    marketer_client.get(f"/wallets/{wallet.pk}/")  # warm per-process caches (account timezone)
    with CaptureQueriesContext(connection) as few:
        assert marketer_client.get(f"/wallets/{wallet.pk}/").status_code == 200
    for n in range(2, 46):
        adjust(n)
    with CaptureQueriesContext(connection) as many:
        first = marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()
    assert len(many) <= len(few)  # no more queries however long the history

    entries = _history_texts(first)
    assert len(entries) == 20
    assert "gift 45" in entries[0] and "gift 26" in entries[-1]
    assert "Page 1 of 3" in first and "history_page=2" in first

    last = marketer_client.get(f"/wallets/{wallet.pk}/?history_page=3").content.decode()
    entries = _history_texts(last)
    assert len(entries) == 6  # 45 adjustments + the creation = 46 entries
    assert "gift 5" in entries[0] and "created the wallet" in entries[-1]

    partial = marketer_client.get(
        f"/wallets/{wallet.pk}/?history_page=2", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="wallet-history"
    ).content.decode()
    assert 'id="wallet-history"' in partial and "<html" not in partial and "wallet-chart" not in partial
    assert "gift 25" in _history_texts(partial)[0] and "Page 2 of 3" in partial


# Walkthrough findings (issue #16, session 5) ------------------------------------------------


def test_adjust_says_the_wallets_decimal_places_the_same_way_in_label_and_message(marketer_client):
    wallet = WalletFactory(rounding_places=2)
    ProfileFactory(identity="u1")
    url = f"/wallets/{wallet.pk}/adjust/"
    assert "Points (Supercoins, at most 2 decimal places)" in marketer_client.get(url).content.decode()
    for typed in ("12.345", "12.3456"):  # within the storage's 3 places, and beyond them
        data = {"kind": "CREDIT", "identity": "u1", "points": typed, "description": "x"}
        partial = marketer_client.post(url, data, HTTP_HX_REQUEST="true").content.decode()
        assert "This wallet allows at most 2 decimal places." in partial, typed
        assert "at most 3" not in partial
    whole = WalletFactory(rounding_places=0)
    page = marketer_client.get(f"/wallets/{whole.pk}/adjust/").content.decode()
    assert "Points (Supercoins, whole points only)" in page


def test_chart_period_select_shows_the_period_the_chart_shows(marketer_client):
    wallet = WalletFactory()
    page = marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()
    assert '<option value="30" selected>Last 30 days</option>' in page
    today = timezone.now().astimezone(account_tzinfo()).date()
    first = today - datetime.timedelta(days=29)
    assert f"{dateformat.format(first, 'j M Y')} – {dateformat.format(today, 'j M Y')}, (GMT+05:30)" in page
    assert "((" not in page
    week = marketer_client.get(f"/wallets/{wallet.pk}/?days=7").content.decode()
    assert '<option value="7" selected>Last 7 days</option>' in week


def test_points_on_the_wallet_page_have_thousands_separators(marketer_client):
    wallet, profile = WalletFactory(), ProfileFactory()
    services.wallet_credit(wallet=wallet, profile=profile, points=Decimal("1234567.5"), source="API")
    page = marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()
    assert 'id="total-active">1,234,567.5<' in page


def test_a_chart_period_that_does_not_parse_answers_422_with_its_error_and_the_default_chart(marketer_client):
    wallet = WalletFactory()
    bad = marketer_client.get(f"/wallets/{wallet.pk}/?days=abc")
    assert bad.status_code == 422 and 'id="wallet-chart"' in bad.content.decode()
    partial = marketer_client.get(f"/wallets/{wallet.pk}/?days=abc", HTTP_HX_REQUEST="true")
    assert partial.status_code == 422 and "<html" not in partial.content.decode()
    assert marketer_client.get(f"/wallets/{wallet.pk}/?days=7").status_code == 200
