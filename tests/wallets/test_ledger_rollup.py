"""The ledger rollup (wallets_ledgerrollup, migration 0011) and the wallet page reads built on it:
the totals equal the lot-based sums at every moment, the chart equals a per-row grouping."""

import contextlib
import datetime
import io
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.models import Profile
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import CampaignFactory, WalletFactory
from tests.wallets.test_concurrency import run_threads
from wallets import selectors, services
from wallets.models import LedgerRollup, LotDue, Transaction, Wallet

pytestmark = pytest.mark.django_db

D = Decimal


def _rollup_sums(wallet) -> dict:
    """{kind: (points, rows)} summed over the wallet's quarters; the all-time rows must agree."""
    rows = LedgerRollup.objects.filter(wallet=wallet).values("kind", all_time=Q(quarter__isnull=True))
    sums = {
        (row["kind"], row["all_time"]): (row["p"], row["n"])
        for row in rows.annotate(p=Sum("points"), n=Sum("rows")).order_by()
    }
    by_quarter = {kind: sums[kind, all_time] for kind, all_time in sums if not all_time}
    assert {kind: sums[kind, all_time] for kind, all_time in sums if all_time} == by_quarter
    return by_quarter


def _ledger_sums(wallet) -> dict:
    rows = Transaction.objects.filter(wallet=wallet).values("kind").annotate(p=Sum("points"), n=Count("id"))
    return {row["kind"]: (row["p"], row["n"]) for row in rows.order_by()}


def _assert_totals_agree(wallet):
    """The page's totals (rollup + due lots) equal the lots' buckets now; the rollup equals the ledger."""
    assert selectors.wallet_totals(wallet=wallet) == selectors.wallet_lot_totals(wallet=wallet, at=timezone.now())
    assert _rollup_sums(wallet) == _ledger_sums(wallet)


points = st.decimals(min_value=D("0.001"), max_value=D("500"), places=3)
operation = st.one_of(
    # (credit, profile, points, activation delay in minutes (negative: in the past), lifetime or None)
    st.tuples(st.just("credit"), st.integers(0, 1), points, st.integers(-90, 120), st.none() | st.integers(1, 240)),
    st.tuples(st.just("bulk"), points, st.integers(0, 60), st.none() | st.integers(1, 240)),
    st.tuples(st.just("debit"), st.integers(0, 1), points),
    st.tuples(st.just("advance"), st.integers(1, 90)),
    st.tuples(st.just("activate")),
    st.tuples(st.just("expire")),
)


class _Rollback(Exception):
    """Undo each example's rows so the next example starts from an empty ledger."""


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_rollup_totals_equal_the_lot_totals_whatever_the_jobs_have_done(clock, ops):
    start = clock.now
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(name="Prop", points_name="P", rounding_places=3)
            other = Wallet.objects.create(name="Other", points_name="P", rounding_places=3)
            profiles = [Profile.objects.create(identity=f"prop{i}") for i in range(2)]
            campaign = CampaignFactory()
            services.wallet_credit(wallet=other, profile=profiles[0], points=D(7), source="API")
            for n, op in enumerate(ops):
                if op[0] == "credit":
                    _, who, amount, delay, life = op
                    activates = timezone.now() + datetime.timedelta(minutes=delay)
                    expires = activates + datetime.timedelta(minutes=life) if life else services.NEVER_EXPIRES
                    services.wallet_credit(
                        wallet=wallet,
                        profile=profiles[who],
                        points=amount,
                        source="API",
                        activates_at=activates,
                        expires_at=expires,
                    )
                elif op[0] == "bulk":
                    _, amount, delay, life = op
                    activates = timezone.now() + datetime.timedelta(minutes=delay)
                    services.wallet_credit_bulk(
                        wallet=wallet,
                        profile_ids=[p.pk for p in profiles],
                        points=amount,
                        campaign=campaign,
                        occurrence=str(n),
                        activates_at=activates if delay else None,
                        expires_at=activates + datetime.timedelta(minutes=life) if life else services.NEVER_EXPIRES,
                    )
                elif op[0] == "debit":
                    with contextlib.suppress(ValidationError):  # more than the active points
                        services.wallet_debit(wallet=wallet, profile=profiles[op[1]], points=op[2], source="API")
                elif op[0] == "advance":
                    clock.advance(minutes=op[1])
                elif op[0] == "activate":
                    services.lots_activate_due()
                else:
                    services.lots_expire_due()
                # Between job runs some lots' steps are due and not done: the totals still agree.
                _assert_totals_agree(wallet)
            services.lots_expire_due()
            _assert_totals_agree(wallet)
            assert not LotDue.objects.filter(due_at__lte=timezone.now()).exists()
            assert selectors.wallet_totals(wallet=other) == selectors.Balances(active=D(7), credited=D(7))
            raise _Rollback
    except _Rollback:
        pass
    finally:
        clock.set(start)


def test_totals_count_due_activations_and_expiries_before_the_jobs_run(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    now = clock.now
    services.wallet_credit(
        wallet=wallet,
        profile=profile,
        points=D(10),
        source="API",
        activates_at=now + datetime.timedelta(hours=1),
        expires_at=now + datetime.timedelta(hours=3),
    )
    services.wallet_credit(
        wallet=wallet, profile=profile, points=D(5), source="API", expires_at=now + datetime.timedelta(hours=2)
    )
    assert selectors.wallet_totals(wallet=wallet) == selectors.Balances(promised=D(10), active=D(5), credited=D(15))
    clock.advance(hours=1, minutes=30)  # the activation is due, the jobs have not run
    services.wallet_debit(wallet=wallet, profile=profile, points=D(12), source="API")
    assert selectors.wallet_totals(wallet=wallet) == selectors.Balances(active=D(3), redeemed=D(12), credited=D(15))
    clock.advance(hours=1)  # the 5-point lot has expired, empty (the debit took it first)
    assert selectors.wallet_totals(wallet=wallet) == selectors.Balances(active=D(3), redeemed=D(12), credited=D(15))
    clock.advance(hours=1)  # the other has expired too, still no job
    expected = selectors.Balances(expired=D(3), redeemed=D(12), credited=D(15))
    assert selectors.wallet_totals(wallet=wallet) == expected
    services.lots_expire_due()
    assert selectors.wallet_totals(wallet=wallet) == expected
    assert _rollup_sums(wallet) == {
        "SCHEDULED": (D(10), 1),
        "CREDIT": (D(5), 1),
        "DEBIT": (D(12), 1),
        "ACTIVATED": (D(10), 1),
        "EXPIRED": (D(3), 1),
    }


def test_a_bulk_credit_statement_adds_one_rollup_row_to_its_quarter_and_one_to_all_time(clock):
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(30)]
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(2), campaign=campaign, occurrence="a")
    quarter = clock.now.replace(minute=clock.now.minute // 15 * 15, second=0, microsecond=0)
    rows = LedgerRollup.objects.filter(wallet=wallet).order_by("quarter")
    assert [(r.kind, r.quarter, r.points, r.rows) for r in rows] == [
        ("CREDIT", quarter, D(60), 30),
        ("CREDIT", None, D(60), 30),
    ]


def test_the_rebuild_function_recounts_what_the_trigger_kept(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    for hours in (0, 1, 5):
        clock.set(clock.now + datetime.timedelta(hours=hours))
        services.wallet_credit(wallet=wallet, profile=profile, points=D(4), source="API")
    services.wallet_debit(wallet=wallet, profile=profile, points=D(3), source="API")
    kept = _rollup_sums(wallet)
    with connection.cursor() as cursor:
        cursor.execute("SELECT wallets_ledger_rollup_rebuild(ARRAY[%s]::bigint[])", [wallet.pk])
    assert _rollup_sums(wallet) == kept == {"CREDIT": (D(12), 3), "DEBIT": (D(3), 1)}


def _per_row_series(wallet, start, end, tz) -> dict:
    """Issued / redeemed / expired per local day, grouping ledger rows one by one in Python."""
    days: dict = {}
    for txn in Transaction.objects.filter(wallet=wallet):
        day = txn.created_at.astimezone(tz).date()
        if not start <= day <= end:
            continue
        issued, redeemed, expired = days.get(day, (D(0), D(0), D(0)))
        if txn.kind in ("CREDIT", "SCHEDULED"):
            issued += txn.points
        elif txn.kind == "DEBIT":
            redeemed += txn.points
        elif txn.kind == "EXPIRED":
            expired += txn.points
        days[day] = (issued, redeemed, expired)
    return days


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Asia/Kathmandu"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(0, 5 * 24 * 3600 - 1), min_size=1, max_size=12))
def test_daily_series_equals_a_per_row_grouping_across_a_dst_change(clock, zone, offsets):
    # Europe/Berlin and New York change to summer time in March 2026 (a 23-hour local day);
    # Kathmandu's +05:45 puts its midnights on a quarter hour that is no UTC half hour.
    tz = zoneinfo.ZoneInfo(zone)
    start, end = datetime.date(2026, 3, 6), datetime.date(2026, 4, 5)
    first = datetime.datetime(2026, 3, 7, tzinfo=tz).astimezone(datetime.UTC)
    begin = clock.now
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(name="Series", points_name="P", rounding_places=3)
            profile = Profile.objects.create(identity="series")
            base = first + datetime.timedelta(days=21) if zone == "Europe/Berlin" else first
            clock.set(base)
            for n, offset in enumerate(sorted(offsets)):
                clock.set(max(clock.now, base + datetime.timedelta(seconds=offset)))
                services.wallet_credit(
                    wallet=wallet,
                    profile=profile,
                    points=D(n + 1),
                    source="API",
                    expires_at=timezone.now() + datetime.timedelta(minutes=30),
                )
                if n % 3 == 1:
                    services.wallet_debit(wallet=wallet, profile=profile, points=D("0.5"), source="API")
                if n % 2 == 0:
                    clock.advance(minutes=40)
                    services.lots_expire_due()
            series = selectors.wallet_daily_series(wallet=wallet, start=start, end=end, tz=tz)
            expected = _per_row_series(wallet, start, end, tz)
            assert [
                (d.day, d.issued, d.redeemed, d.expired) for d in series if d.issued or d.redeemed or d.expired
            ] == [(day, *sums) for day, sums in sorted(expected.items())]
            assert sum(d.issued for d in series) == sum(range(1, len(offsets) + 1))
            raise _Rollback
    except _Rollback:
        pass
    finally:
        clock.set(begin)


def test_the_dst_day_collects_its_23_hours(clock):
    tz = zoneinfo.ZoneInfo("Europe/Berlin")
    wallet, profile = WalletFactory(), ProfileFactory()
    for at, amount in (
        (datetime.datetime(2026, 3, 28, 22, 59, 59, tzinfo=datetime.UTC), 1),  # 23:59:59 on the 28th (CET)
        (datetime.datetime(2026, 3, 28, 23, 0, tzinfo=datetime.UTC), 2),  # midnight: the 29th
        (datetime.datetime(2026, 3, 29, 21, 59, 59, tzinfo=datetime.UTC), 4),  # 23:59:59 CEST on the 29th
        (datetime.datetime(2026, 3, 29, 22, 0, tzinfo=datetime.UTC), 8),  # midnight: the 30th
    ):
        clock.set(at)
        services.wallet_credit(wallet=wallet, profile=profile, points=D(amount), source="API")
    series = selectors.wallet_daily_series(
        wallet=wallet, start=datetime.date(2026, 3, 28), end=datetime.date(2026, 3, 30), tz=tz
    )
    assert [(d.day.day, d.issued) for d in series] == [(28, D(1)), (29, D(6)), (30, D(8))]


def test_wallet_page_reads_no_aggregate_of_the_wallets_lots(marketer_client):
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(5)]
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(4), campaign=campaign, occurrence="x")
    with CaptureQueriesContext(connection) as queries:
        page = marketer_client.get(f"/wallets/{wallet.pk}/").content.decode()
    assert 'id="total-active">20<' in page
    lot_reads = [q["sql"] for q in queries.captured_queries if re.search(r'\bwallets_lot\b|"wallets_lot"', q["sql"])]
    # The one read of lots is of the lots whose pending step is due, by primary key (their ids
    # from the steps' index), never a scan of the wallet's lots.
    assert lot_reads and all("WHERE l.id = ANY(ARRAY(SELECT lot_id FROM steps))" in q for q in lot_reads)


@pytest.mark.django_db(transaction=True)
def test_concurrent_credits_to_one_wallet_are_all_counted(clock):
    wallet = WalletFactory()
    profiles = [ProfileFactory() for _ in range(2)]
    per_thread = 15

    def credit(i):
        for _ in range(per_thread):
            # The same frozen instant: every transaction upserts the same quarter's rows.
            services.wallet_credit(wallet=wallet, profile=profiles[i], points=D(3), source="API")

    _, errors = run_threads(credit, 2)
    assert errors == []
    assert _rollup_sums(wallet) == {"CREDIT": (D(3 * 2 * per_thread), 2 * per_thread)}
    assert selectors.wallet_totals(wallet=wallet) == selectors.Balances(active=D(90), credited=D(90))


def test_the_rebuild_command_puts_back_what_a_restore_without_triggers_left_out(marketer_client):
    """Rows written with the triggers disabled (a restore, a hand-made repair) are missing from the
    wallet page and the campaign's points until `manage.py wallet_rollups_rebuild` recounts them."""
    from django.core.management import call_command

    wallet, other, campaign = WalletFactory(), WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(4)]
    with connection.cursor() as cursor:
        for table, trigger in (
            ("wallets_transaction", "ledger_rollup_insert"),
            ("wallets_lot", "wallets_lot_rollup_insert"),
        ):
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        for occurrence, target in (("a", wallet), ("b", other)):
            services.wallet_credit_bulk(
                wallet=target, profile_ids=ids, points=D(5), campaign=campaign, occurrence=occurrence
            )
        for table, trigger in (
            ("wallets_transaction", "ledger_rollup_insert"),
            ("wallets_lot", "wallets_lot_rollup_insert"),
        ):
            cursor.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}")

    def active_on_page(target) -> str:
        html = marketer_client.get(f"/wallets/{target.pk}/").content.decode()
        return re.search(r'id="total-active"[^>]*>([^<]*)<', html).group(1).strip()

    assert active_on_page(wallet) == "0"

    out = io.StringIO()
    call_command("wallet_rollups_rebuild", wallet=[wallet.pk], stdout=out)
    assert out.getvalue().strip() == f"Ledger rollup recounted for wallet {wallet.pk}."
    assert active_on_page(wallet) == "20"
    assert active_on_page(other) == "0"  # only the wallet asked for
    assert selectors.campaign_lot_totals(campaign_id=campaign.pk).credited == 0

    call_command("wallet_rollups_rebuild", stdout=out)
    assert "for every wallet and the campaigns' lot rollup" in out.getvalue()
    assert active_on_page(other) == "20"
    _assert_totals_agree(wallet)
    _assert_totals_agree(other)
    assert selectors.campaign_lot_totals(campaign_id=campaign.pk).credited == D(40)
