"""Reads for wallet screens, the API and the jobs. Balances are derived from lots at the
time asked, so a lot is never spendable before activation or after expiry, however late the
periodic jobs run."""

import dataclasses
import datetime
from decimal import Decimal

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from wallets.models import LedgerRollup, Lot, LotRollup, Source, Transaction, Wallet, WalletChange

ZERO = Decimal("0.000")


@dataclasses.dataclass(frozen=True)
class Balances:
    promised: Decimal = ZERO
    active: Decimal = ZERO
    expired: Decimal = ZERO
    redeemed: Decimal = ZERO
    credited: Decimal = ZERO


def _sum(expression, condition=None):
    return Coalesce(
        Sum(expression, filter=condition),
        Value(ZERO),
        output_field=DecimalField(max_digits=30, decimal_places=3),
    )


def _bucket_aggregates(at: datetime.datetime) -> dict:
    """The buckets at `at` summed over lots, or over lot rollup rows (the same columns, summed)."""
    not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=at)
    return {
        "promised": _sum("remaining", Q(activates_at__gt=at) & not_expired),
        "active": _sum("remaining", Q(activates_at__lte=at) & not_expired),
        "expired": _sum("remaining", Q(expires_at__lte=at)),
        "redeemed": _sum(F("amount") - F("remaining")),
        "credited": _sum("amount"),
    }


def wallet_balances(*, profile, wallet: Wallet | None = None, at: datetime.datetime | None = None):
    """The profile's buckets at `at` (default now): promised, active, expired, redeemed, credited.

    With a wallet: one `Balances`. Without: `{wallet_id: Balances}` for every wallet the profile
    has points in. One query either way.
    """
    at = at or timezone.now()
    lots = Lot.objects.filter(profile=profile)
    if wallet is not None:
        return Balances(**lots.filter(wallet=wallet).aggregate(**_bucket_aggregates(at)))
    rows = lots.values("wallet_id").annotate(**_bucket_aggregates(at)).order_by("wallet_id")
    return {row.pop("wallet_id"): Balances(**row) for row in rows}


def profile_wallet_balances(*, profile) -> list[tuple[Wallet, Balances]]:
    """Every active wallet (zeros where the profile has no lots yet) and every inactive one the
    profile holds lots in, by wallet id, with the profile's buckets. Two queries."""
    balances = wallet_balances(profile=profile)
    wallets = Wallet.objects.filter(Q(is_active=True) | Q(pk__in=list(balances))).order_by("pk")
    return [(wallet, balances.get(wallet.pk, Balances())) for wallet in wallets]


def wallet_lot_totals(*, wallet: Wallet, at: datetime.datetime) -> Balances:
    """The wallet's buckets at `at` summed from its lots: a read of every lot of the wallet."""
    return Balances(**Lot.objects.filter(wallet=wallet).aggregate(**_bucket_aggregates(at)))


# The wallet's buckets now, from the ledger's rollup (its all-time rows: at most one per kind and
# shard) corrected, exactly, for the lots whose next lifecycle step is due but not yet done
# by the jobs (their LotDue row, at most one per lot, is still there): for those, what the lots
# say now (as `_bucket_aggregates`) minus what their ledger rows say so far. A lot still owing
# its activation shows in the ledger as SCHEDULED (promised: its amount) less what debits took
# from it (active: remaining - amount); one owing its expiry as its active remainder. Credited
# and redeemed need no correction: every credit and debit is in the ledger when it commits.
# One statement, so one snapshot: a job's step deletion and its ledger rows commit together.
# The due steps come from their own index and their lots by primary key (= ANY(ARRAY(...))),
# never from a join the statistics shape: planned from stale statistics as a scan of every lot
# hashed against the steps, the page took 0.5 s with no step due (bench/RESULTS.md).
# Equal to the lots' buckets for any `now` no earlier than the clocks that wrote the ledger (a
# job run with a later `now` has already activated or expired what the lots still call pending).
_TOTALS_SQL = """
WITH ledger AS (
    SELECT COALESCE(sum(points) FILTER (WHERE kind = 'CREDIT'), 0.000) AS credit,
           COALESCE(sum(points) FILTER (WHERE kind = 'SCHEDULED'), 0.000) AS scheduled,
           COALESCE(sum(points) FILTER (WHERE kind = 'ACTIVATED'), 0.000) AS activated,
           COALESCE(sum(points) FILTER (WHERE kind = 'DEBIT'), 0.000) AS debit,
           COALESCE(sum(points) FILTER (WHERE kind = 'EXPIRED'), 0.000) AS expired
    FROM wallets_ledgerrollup WHERE wallet_id = %(wallet)s AND quarter IS NULL
),
steps AS MATERIALIZED (
    SELECT d.step, d.lot_id FROM wallets_lotdue d
    WHERE d.step IN ('activate', 'expire') AND d.due_at <= %(now)s
),
due AS (
    SELECT s.step, l.amount, l.remaining, l.activates_at, l.expires_at,
           l.expires_at IS NULL OR l.expires_at > %(now)s AS unexpired
    FROM wallets_lot l JOIN steps s ON s.lot_id = l.id
    WHERE l.id = ANY(ARRAY(SELECT lot_id FROM steps)) AND l.wallet_id = %(wallet)s
),
fix AS (
    SELECT COALESCE(sum(CASE WHEN activates_at > %(now)s AND unexpired THEN remaining ELSE 0 END)
                    - sum(CASE WHEN step = 'activate' THEN amount ELSE 0 END), 0.000) AS promised,
           COALESCE(sum(CASE WHEN activates_at <= %(now)s AND unexpired THEN remaining ELSE 0 END)
                    - sum(CASE WHEN step = 'activate' THEN remaining - amount ELSE remaining END), 0.000) AS active,
           COALESCE(sum(CASE WHEN expires_at <= %(now)s THEN remaining ELSE 0 END), 0.000) AS expired
    FROM due
)
SELECT ledger.scheduled - ledger.activated + fix.promised,
       ledger.credit + ledger.activated - ledger.debit - ledger.expired + fix.active,
       ledger.expired + fix.expired,
       ledger.debit,
       ledger.credit + ledger.scheduled
FROM ledger, fix
"""


def wallet_totals(*, wallet: Wallet, at: datetime.datetime | None = None) -> Balances:
    """The wallet's buckets over every profile (the detail page's totals), equal to
    `wallet_lot_totals` at the same instant.

    Now (no `at`): from the ledger's rollup, a few rows whatever the wallet's size, plus the
    lots whose lifecycle step is due and not yet done. Another `at`: from the lots (the
    rollup holds what the ledger says now, not at another time).
    """
    if at is not None:
        return wallet_lot_totals(wallet=wallet, at=at)
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS_SQL, {"wallet": wallet.pk, "now": timezone.now()})
        row = cursor.fetchone()
    return Balances(*(value.quantize(ZERO) for value in row))


def campaign_lot_totals(*, campaign_id: int, at: datetime.datetime | None = None) -> Balances:
    """The buckets of the points one campaign credited, over every profile (its detail page).

    Summed from the lot rollup, whose rows carry the exact (activates_at, expires_at) of their
    lots: the same conditions classify them as they would each lot, so the numbers equal an
    aggregate of the campaign's lots at any `at`, from a row per credit call (a run chunk, a
    live batch) and shard instead of a row per lot.
    """
    rows = LotRollup.objects.filter(campaign_id=campaign_id)
    return Balances(**rows.aggregate(**_bucket_aggregates(at or timezone.now())))


def ledger_balances(*, profile, wallet: Wallet) -> Balances:
    """The same buckets summed from the ledger alone (equal to `wallet_balances` once the
    activation and expiry jobs have caught up); used to audit the invariant."""
    sums = dict(
        Transaction.objects.filter(profile=profile, wallet=wallet)
        .values("kind")
        .annotate(total=Sum("points"))
        .values_list("kind", "total")
    )
    k = Transaction.Kind
    get = lambda kind: sums.get(kind, ZERO)  # noqa: E731
    return Balances(
        promised=get(k.SCHEDULED) - get(k.ACTIVATED),
        active=get(k.CREDIT) + get(k.ACTIVATED) - get(k.DEBIT) - get(k.EXPIRED),
        expired=get(k.EXPIRED),
        redeemed=get(k.DEBIT),
        credited=get(k.CREDIT) + get(k.SCHEDULED),
    )


def wallet_list() -> QuerySet[Wallet]:
    return Wallet.objects.select_related("created_by").order_by("-created_at", "-pk")


HISTORY_PAGE_SIZE = 20


def wallet_history(*, wallet: Wallet, page=None, per_page: int = HISTORY_PAGE_SIZE) -> Page:
    """Wallet changes and manual adjustments, newest first, with who did them, one page at a time.

    Four queries whatever the page or history length: the count and the page's (kind, id)
    keys from one UNION ALL over both tables, then each page's rows with their joins.
    Each entry is {"at", "actor", "change" | "adjustment"}.
    """
    keys = (
        WalletChange.objects.filter(wallet=wallet)
        .annotate(entry=Value("change"))
        .values_list("id", "created_at", "entry")
        .union(
            Transaction.objects.filter(wallet=wallet, source=Source.MANUAL)
            .annotate(entry=Value("adjustment"))
            .values_list("id", "created_at", "entry"),
            all=True,
        )
        .order_by("-created_at", "-id")
    )
    page_obj = Paginator(keys, per_page).get_page(page)
    rows = list(page_obj.object_list)
    changes = WalletChange.objects.select_related("actor").in_bulk([pk for pk, _, e in rows if e == "change"])
    adjustments = Transaction.objects.select_related("actor", "profile", "lot").in_bulk(
        [pk for pk, _, e in rows if e == "adjustment"]
    )
    entries = []
    for pk, at, entry in rows:
        obj = changes[pk] if entry == "change" else adjustments[pk]
        entries.append({"at": at, "actor": obj.actor, entry: obj})
    page_obj.object_list = entries
    return page_obj


@dataclasses.dataclass(frozen=True)
class DayTotals:
    day: datetime.date
    issued: Decimal
    redeemed: Decimal
    expired: Decimal


def wallet_daily_series(*, wallet: Wallet, start: datetime.date, end: datetime.date, tz) -> list[DayTotals]:
    """Points issued (credited or scheduled), redeemed (debited) and expired per local day."""
    since = datetime.datetime.combine(start, datetime.time.min, tzinfo=tz)
    until = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    # From the rollup's quarter hours: every timezone's offset is a whole number of quarters, so
    # each quarter lies inside one local day and the sums per day are exact.
    k = Transaction.Kind
    rows = (
        LedgerRollup.objects.filter(
            wallet=wallet, quarter__gte=since, quarter__lt=until, kind__in=[k.CREDIT, k.SCHEDULED, k.DEBIT, k.EXPIRED]
        )
        .annotate(day=TruncDate("quarter", tzinfo=tz))
        .values("day", "kind")
        .annotate(total=Sum("points"))
        .order_by()
    )
    table: dict[datetime.date, dict[str, Decimal]] = {}
    for row in rows:
        table.setdefault(row["day"], {})[row["kind"]] = row["total"]
    days = []
    day = start
    while day <= end:
        sums = table.get(day, {})
        days.append(
            DayTotals(
                day=day,
                issued=sums.get(k.CREDIT, ZERO) + sums.get(k.SCHEDULED, ZERO),
                redeemed=sums.get(k.DEBIT, ZERO),
                expired=sums.get(k.EXPIRED, ZERO),
            )
        )
        day += datetime.timedelta(days=1)
    return days


def transaction_search(
    *,
    wallet: Wallet,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    kind: str = "",
    source: str = "",
    points_min: Decimal | None = None,
    points_max: Decimal | None = None,
    query: str = "",
) -> QuerySet[Transaction]:
    """The transactions table: filters from the screen, newest first, joins done."""
    txns = Transaction.objects.filter(wallet=wallet)
    if since is not None:
        txns = txns.filter(created_at__gte=since)
    if until is not None:
        txns = txns.filter(created_at__lt=until)
    if kind:
        txns = txns.filter(kind=kind)
    if source:
        txns = txns.filter(source=source)
    if points_min is not None:
        txns = txns.filter(points__gte=points_min)
    if points_max is not None:
        txns = txns.filter(points__lte=points_max)
    if query:
        match = Q(profile__identity__icontains=query)
        if query.isdigit() and len(query) < 19:
            match |= Q(pk=int(query))
        txns = txns.filter(match)
    return txns.select_related("profile", "actor", "lot__campaign").order_by("-created_at", "-pk")


def profile_transactions(*, wallet: Wallet, profile) -> QuerySet[Transaction]:
    return (
        Transaction.objects.filter(wallet=wallet, profile=profile)
        .select_related("lot__campaign")
        .order_by("-created_at", "-pk")
    )
