"""The admin's lists of the tables that grow by millions (issue #18): newest first by primary key
(no sort of the whole table), no COUNT(*) per view, exact-key search (no substring scan)."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import pagination
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import services as wallet_services
from wallets import views as wallet_views
from wallets.models import Transaction

pytestmark = pytest.mark.django_db

BIG_TABLES = {
    "/admin/wallets/lot/": "wallets_lot",
    "/admin/wallets/transaction/": "wallets_transaction",
    "/admin/wallets/consumption/": "wallets_consumption",
    "/admin/coupons/couponcode/": "coupons_couponcode",
    "/admin/coupons/codeassignment/": "coupons_codeassignment",
    "/admin/coupons/redemption/": "coupons_redemption",
    "/admin/vouchers/vouchercode/": "vouchers_vouchercode",
    "/admin/vouchers/voucherassignment/": "vouchers_voucherassignment",
}


@pytest.fixture
def estimates_from_one_row(monkeypatch):
    monkeypatch.setattr(pagination.EstimatedPaginator, "exact_below", 1)


@pytest.mark.parametrize("url,table", BIG_TABLES.items())
def test_a_big_table_list_is_read_newest_first_by_its_key_without_counting_it(
    admin_client_, estimates_from_one_row, url, table
):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get(url)
    assert response.status_code == 200
    reads = [q["sql"] for q in queries if f'FROM "{table}"' in q["sql"]]
    assert not [sql for sql in reads if "COUNT(" in sql.upper()]
    listing = [sql for sql in reads if "ORDER BY" in sql]
    assert listing and all(re.search(rf'ORDER BY "{table}"\."id" DESC\s*(LIMIT|$)', sql) for sql in listing)


def test_the_lot_and_ledger_lists_show_the_newest_first_and_find_a_profile_by_its_exact_identity(
    admin_client_, estimates_from_one_row
):
    wallet = WalletFactory()
    alice, bob = ProfileFactory(identity="alice"), ProfileFactory(identity="alice-2")
    lots = [
        wallet_services.wallet_credit(wallet=wallet, profile=p, points=Decimal(n), source="API")
        for n, p in enumerate([alice, bob, alice], start=1)
    ]
    listed = admin_client_.get("/admin/wallets/lot/").context["cl"].result_list
    assert [lot.pk for lot in listed] == [lot.pk for lot in reversed(lots)]
    found = admin_client_.get("/admin/wallets/lot/", {"q": "alice"}).context["cl"].result_list
    assert {lot.profile.identity for lot in found} == {"alice"} and len(found) == 2
    ledger = admin_client_.get("/admin/wallets/transaction/", {"q": "alice-2"}).context["cl"].result_list
    assert [t.profile.identity for t in ledger] == ["alice-2"]


def test_a_wallets_transactions_page_through_every_row_from_an_estimate_without_counting_them(
    marketer_client, estimates_from_one_row, monkeypatch
):
    monkeypatch.setattr(wallet_views, "PAGE_SIZE", 4)
    wallet = WalletFactory()
    profile = ProfileFactory(identity="alice")
    credits = [
        wallet_services.wallet_credit(wallet=wallet, profile=profile, points=Decimal(n), source="API")
        for n in range(1, 11)
    ]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_transaction")
    seen, labels, page = [], [], "1"
    with CaptureQueriesContext(connection) as queries:
        while page:
            html = marketer_client.get(f"/wallets/{wallet.pk}/transactions/", {"page": page}).content.decode()
            seen += [int(pk) for pk in re.findall(r'<td class="id">(\d+)</td>', html)]
            labels.append(re.search(r'class="current">([^<]+)<', html).group(1))
            following = re.search(r'href="\?page=(\d+)"[^>]*>Next', html)
            page = following.group(1) if following else None
    ledger = Transaction.objects.filter(wallet=wallet).order_by("-created_at", "-pk").values_list("pk", flat=True)
    assert len(credits) == 10 and seen == list(ledger)  # every credit once, newest first
    assert labels[0].startswith("Page 1 of about") and labels[-1] == "Page 3 of 3"
    assert not [q for q in queries if "COUNT(" in q["sql"].upper() and "wallets_transaction" in q["sql"]]


@pytest.mark.parametrize(
    "model",
    [
        "coupons/couponcode",
        "coupons/codeassignment",
        "coupons/redemption",
        "coupons/couponevent",
        "promotions/campaignrun",
    ],
)
def test_admin_offers_no_add_for_rows_only_the_services_write(admin_client, model):
    """Codes, assignments, redemptions, coupon history and runs come from the app's own actions:
    admin lists them but neither offers nor accepts a hand-made one."""
    listing = admin_client.get(f"/admin/{model}/")
    assert listing.status_code == 200
    assert f'href="/admin/{model}/add/"' not in listing.content.decode()
    assert admin_client.get(f"/admin/{model}/add/").status_code == 403
