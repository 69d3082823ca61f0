"""The lifecycle sweeps (lots activated and expired when due) and the points.expiring digest."""

import datetime
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.account import account_tzinfo
from wallets.models import Wallet

# Lots per sweep chunk: big enough that per-statement overhead vanishes, small enough to keep
# locks short (bench/wallets_bench.py: a 50,000-row chunk commits in well under a second).
JOB_CHUNK = 50_000

# A lot has at most one pending step, its next one (LotDue). A sweep chunk claims due steps
# (SKIP LOCKED), deletes them and writes their ledger rows in one statement. Deleting the step
# is what makes it happen once: two sweeps at the same time take different rows, a sweep run
# twice finds them gone, and the wide lot rows are never rewritten (no new row versions, no
# index entries: bench/RESULTS.md).
#
# The activation sweep hands each lot on to its next step in the same statement: the expire
# step if the lot expires later, or, if its expiry has passed too (the jobs were late), the
# expiry itself, written after the ACTIVATED row. Whoever records an expiry locks the lot (in pk
# order, like debits) so the remainder it records is the committed one. A sweep waits only for
# lot locks, never for steps (SKIP LOCKED), so no cycle of waits can form.
_LEDGER_COLUMNS = (
    "wallet_id, profile_id, lot_id, kind, source, points, description, metadata, "
    "order_id, idempotency_key, actor_id, created_at"
)


def _system_rows_sql(kind: str, points: str, description: str, rows: str) -> str:
    """INSERT of the job's ledger rows (`kind`, `points` column) for the lots in `rows`."""
    return f"""
    INSERT INTO wallets_transaction ({_LEDGER_COLUMNS})
    SELECT lot.wallet_id, lot.profile_id, lot.id, '{kind}', 'SYSTEM', lot.{points}, '{description}', '{{}}'::jsonb,
           '', NULL, NULL, %(now)s
    FROM {rows}
    RETURNING 1"""  # noqa: S608 (constants only)


# The claimed steps are deleted by their row addresses (ctid: a TID scan, whatever the planner
# believes about the table) and their lots read by primary key (= ANY(ARRAY(...))), never by a
# join whose shape follows the statistics: the expire steps are written by the activation sweep
# just before, so the planner's last look at the table may have counted none of them, and a
# join planned for one row (a nested loop over a scan of every step) ran for over ten minutes on
# 50,000 of them (bench/RESULTS.md). A locked row's ctid holds until the transaction ends.
_DUE_SQL = """
    SELECT ctid AS row_id, due_at, lot_id FROM wallets_lotdue
    WHERE step = '{step}' AND due_at <= %(now)s AND (due_at, lot_id) > (%(after_at)s, %(after_id)s)
    ORDER BY due_at, lot_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED"""
_DONE_SQL = """
    DELETE FROM wallets_lotdue AS d
    WHERE d.ctid = ANY(ARRAY(SELECT row_id FROM due))
    RETURNING d.lot_id"""
_LAST_SQL = "FROM (SELECT due_at, lot_id FROM due ORDER BY due_at DESC, lot_id DESC LIMIT 1) AS last"
# The lots of the expiries a chunk writes, locked in pk order, their remainder as committed.
_EXPIRING_SQL = """
    SELECT id, wallet_id, profile_id, remaining FROM wallets_lot WHERE id = ANY(ARRAY({ids}))
    ORDER BY id
    FOR NO KEY UPDATE"""

_ACTIVATE_SQL = f"""
WITH due AS MATERIALIZED ({_DUE_SQL.format(step="activate")}),
done AS ({_DONE_SQL.format(step="activate")}),
lot AS MATERIALIZED (
    SELECT lot.id, lot.wallet_id, lot.profile_id, lot.amount, lot.expires_at
    FROM wallets_lot AS lot WHERE lot.id = ANY(ARRAY(SELECT lot_id FROM done))
),
activations AS ({_system_rows_sql("ACTIVATED", "amount", "Points activated", "lot")}),
next AS (
    INSERT INTO wallets_lotdue (step, due_at, lot_id)
    SELECT 'expire', lot.expires_at, lot.id FROM lot WHERE lot.expires_at > %(now)s
    ON CONFLICT DO NOTHING
),
expiring AS MATERIALIZED ({_EXPIRING_SQL.format(ids="SELECT id FROM lot WHERE expires_at <= %(now)s")}),
ledger AS ({_system_rows_sql("EXPIRED", "remaining", "Expired points", "expiring AS lot WHERE lot.remaining > 0")})
SELECT last.due_at, last.lot_id, (SELECT count(*) FROM due), (SELECT count(*) FROM activations),
       (SELECT count(*) FROM ledger)
{_LAST_SQL}
"""  # noqa: S608 (constants only)

_EXPIRE_SQL = f"""
WITH due AS MATERIALIZED ({_DUE_SQL.format(step="expire")}),
done AS ({_DONE_SQL.format(step="expire")}),
lot AS MATERIALIZED ({_EXPIRING_SQL.format(ids="SELECT lot_id FROM done")}),
ledger AS ({_system_rows_sql("EXPIRED", "remaining", "Expired points", "lot WHERE lot.remaining > 0")})
SELECT last.due_at, last.lot_id, (SELECT count(*) FROM due), 0, (SELECT count(*) FROM ledger)
{_LAST_SQL}
"""  # noqa: S608 (constants only)


_SWEEP_START = datetime.datetime.min.replace(tzinfo=datetime.UTC)


def _sweeps(sql: str, now: datetime.datetime, chunk: int, sweeps: int) -> tuple[int, int]:
    """`sweeps` concurrent sweeps of `sql`, each on its own database connection (a thread that
    waits on PostgreSQL, where the work is); returns the (ACTIVATED, EXPIRED) rows they wrote.

    Safe for the same reason two beat ticks are: every chunk claims its steps FOR UPDATE SKIP
    LOCKED, so the sweeps take different steps and each step is done once.
    """
    if sweeps <= 1 or connection.in_atomic_block:
        # Inside the caller's transaction other connections could not see its uncommitted
        # rows (nor should its chunks commit apart from it): one sweep on this connection.
        return _sweep(sql, now, chunk)

    def one_sweep() -> tuple[int, int]:
        try:
            return _sweep(sql, now, chunk)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=sweeps) as pool:
        results = list(pool.map(lambda _: one_sweep(), range(sweeps)))
    return sum(r[0] for r in results), sum(r[1] for r in results)


def _sweep(sql: str, now: datetime.datetime, chunk: int) -> tuple[int, int]:
    """Run `sql` chunk after chunk, each in its own short transaction, walking the pending
    steps in (due_at, lot) order with a keyset cursor, so no chunk rescans the index entries
    earlier chunks deleted. Steps another sweep holds are skipped (SKIP LOCKED): it does them.
    Returns the (ACTIVATED, EXPIRED) rows written."""
    activated = expired = 0
    after_at, after_id = _SWEEP_START, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, {"now": now, "limit": chunk, "after_at": after_at, "after_id": after_id})
            row = cursor.fetchone()
        if row is None:  # nothing left that is due
            return activated, expired
        after_at, after_id, claimed = row[0], row[1], row[2]
        activated += row[3]
        expired += row[4]
        if claimed < chunk:
            return activated, expired


def lots_activate_due(*, now: datetime.datetime | None = None, chunk: int = JOB_CHUNK, sweeps: int = 1) -> int:
    """Write ACTIVATED rows for lots whose activation time has come; returns how many.

    Each activated lot's next step is scheduled in the same statement (its expiry), or done at
    once if its expiry has passed too. `sweeps` > 1: that many concurrent sweeps (outside a
    transaction; the beat task uses LIFECYCLE_SWEEPS), each committing its chunks on its own
    connection.
    """
    now = now or timezone.now()
    return _sweeps(_ACTIVATE_SQL, now, chunk, sweeps)[0]


def lots_expire_due(*, now: datetime.datetime | None = None, chunk: int = JOB_CHUNK, sweeps: int = 1) -> int:
    """Write EXPIRED rows (the unspent remainder) for lots past expiry; returns how many rows.

    A lot whose activation is still pending has no expire step yet: this job first does the
    overdue activations (each lot past its expiry too is activated, then expired), then the
    expiries. `sweeps`: as for `lots_activate_due`.
    """
    now = now or timezone.now()
    expired_on_activation = _sweeps(_ACTIVATE_SQL, now, chunk, sweeps)[1]
    return expired_on_activation + _sweeps(_EXPIRE_SQL, now, chunk, sweeps)[1]


# --- The points.expiring digest (issue #20) ------------------------------------------------------


def points_expiring_digest(*, now: datetime.datetime | None = None) -> int:
    """Once per account-local day and wallet: one `points.expiring` webhook event per profile with
    active points expiring within the wallet's notice period (one statement per wallet). Returns
    the events' deliveries; nothing is written when no active endpoint subscribes."""
    from webhooks import services as webhook_services

    now = now or timezone.now()
    today = timezone.localtime(now, account_tzinfo()).date()
    sent = 0
    for wallet_id in Wallet.objects.filter(expiry_notice_days__gt=0).values_list("pk", flat=True):
        with transaction.atomic():
            claimed = (
                Wallet.objects.filter(pk=wallet_id)
                .filter(Q(expiry_digest_on__isnull=True) | Q(expiry_digest_on__lt=today))
                .update(expiry_digest_on=today)
            )
            if not claimed:
                continue  # already sent today (or another worker is sending it)
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT webhooks_emit('points.expiring', ARRAY(
                        SELECT jsonb_build_object(
                            'walletId', w.id, 'walletName', w.name, 'pointsName', w.points_name,
                            'identity', p.identity, 'points', sum(l.remaining),
                            'firstExpiresAt', min(l.expires_at), 'noticeDays', w.expiry_notice_days,
                            'lots', jsonb_agg(jsonb_build_object('points', l.remaining, 'expiresAt', l.expires_at)
                                              ORDER BY l.expires_at))
                        FROM wallets_lot l
                        JOIN wallets_wallet w ON w.id = l.wallet_id
                        JOIN segments_profile p ON p.id = l.profile_id
                        WHERE l.wallet_id = %s AND l.remaining > 0 AND l.activates_at <= %s
                          AND l.expires_at > %s AND l.expires_at <= %s + make_interval(days => w.expiry_notice_days)
                        GROUP BY w.id, p.id
                        ORDER BY p.id))
                    WHERE webhooks_subscribed('points.expiring')
                    """,
                    [wallet_id, now, now, now],
                )
                row = cursor.fetchone()
                sent += (row[0] or 0) if row else 0
    if sent:
        transaction.on_commit(webhook_services.wake)
    return sent
