"""Every write to wallets: one service per movement, each in one database transaction.

Invariants (SPEC 3.1, 6.2), held by the database where it can:
- a lot's remaining is never negative nor above its amount (check constraints);
- a debit never exceeds the active balance: it locks the profile's active lots in primary-key
  order (so concurrent debits queue instead of deadlocking) and re-reads them under the lock;
- every movement writes an append-only Transaction row in the same transaction;
- an idempotency key moves points once (unique constraint), and so does each
  (campaign, profile, occurrence) (partial unique constraint on lots).
"""

import datetime
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from config import pg_arrays
from config.account import account_tzinfo
from config.row_triggers import keys_locked, row_triggers_skippable, row_triggers_skipped
from wallets.models import Consumption, Lot, LotDue, Source, Transaction, Wallet, WalletChange

ERR_POINTS_NOT_POSITIVE = "Points must be a positive number."
ERR_INSUFFICIENT_BALANCE = "Debit points exceed the active points in the user's wallet."
ERR_WALLET_INACTIVE = "This wallet is inactive: it cannot receive points."
ERR_EXPIRY_BEFORE_ACTIVATION = "The expiry must be after the activation."
ERR_DESCRIPTION_REQUIRED = "Enter a description."
ERR_KIND = "Choose credit or debit."
ERR_EXPIRY_RULE_FROZEN = "The expiry rule cannot change after the wallet is created."

# Profiles per set-based statement in wallet_credit_bulk, and lots per sweep in the jobs:
# big enough that per-statement overhead vanishes, small enough to keep locks short
# (bench/wallets_bench.py: a 50,000-row chunk commits in well under a second).
BULK_CHUNK = 50_000
JOB_CHUNK = 50_000
# After crediting this many lots, refresh the planner's statistics on the pending lifecycle
# steps (the jobs' plans depend on how many are due).
ANALYZE_AFTER = 100_000


class _NeverExpires:
    """`expires_at=NEVER_EXPIRES`: the credit never expires, whatever the wallet's default
    (a campaign's custom lifecycle with expiry "Never"). `expires_at=None` means the default."""

    def __repr__(self) -> str:
        return "NEVER_EXPIRES"


NEVER_EXPIRES = _NeverExpires()


# --- Rules --------------------------------------------------------------------------------


def wallet_round(*, wallet: Wallet, amount: Decimal) -> Decimal:
    """Round `amount` to the wallet's decimal places, up (ceiling) or down (floor)."""
    rounding = ROUND_CEILING if wallet.rounding_mode == Wallet.RoundingMode.UP else ROUND_FLOOR
    exponent = Decimal(1).scaleb(-int(wallet.rounding_places))
    try:
        return Decimal(amount).quantize(exponent, rounding=rounding)
    except InvalidOperation as exc:
        raise ValidationError({"points": ERR_POINTS_NOT_POSITIVE}) from exc


def lot_default_expiry(*, wallet: Wallet, issued_at: datetime.datetime) -> datetime.datetime | None:
    """The wallet's default expiry for points issued at `issued_at`, in the account timezone.

    After N days / months / years keeps the local wall-clock time (DST-safe); the end of the
    Nth calendar year is the first instant of 1 January of year(issue) + N + 1, so points
    issued on 31 December are still spendable until local midnight.
    """
    if wallet.expiry_kind == Wallet.ExpiryKind.NEVER:
        return None
    tz = account_tzinfo()
    local = issued_at.astimezone(tz)
    value = int(wallet.expiry_value or 0)
    if wallet.expiry_kind == Wallet.ExpiryKind.CALENDAR_YEAR:
        end = datetime.datetime(local.year + value + 1, 1, 1, tzinfo=tz)
        return end.astimezone(datetime.UTC)
    delta = {
        Wallet.ExpiryUnit.DAYS: relativedelta(days=value),
        Wallet.ExpiryUnit.MONTHS: relativedelta(months=value),
        Wallet.ExpiryUnit.YEARS: relativedelta(years=value),
    }[wallet.expiry_unit]
    naive = local.replace(tzinfo=None) + delta
    return naive.replace(tzinfo=tz).astimezone(datetime.UTC)


def _positive_points(wallet: Wallet, points) -> Decimal:
    if isinstance(points, float):
        points = Decimal(str(points))
    rounded = wallet_round(wallet=wallet, amount=points)
    if rounded <= 0:
        raise ValidationError({"points": ERR_POINTS_NOT_POSITIVE})
    return rounded


def _lifecycle(wallet, now, activates_at, expires_at):
    activates_at = activates_at or now
    if expires_at is NEVER_EXPIRES:
        return activates_at, None
    if expires_at is None:
        expires_at = lot_default_expiry(wallet=wallet, issued_at=max(now, activates_at))
    if expires_at is not None and expires_at <= activates_at:
        raise ValidationError({"expires_at": ERR_EXPIRY_BEFORE_ACTIVATION})
    return activates_at, expires_at


# --- Wallets --------------------------------------------------------------------------------


def _jsonable(value):
    return value if value is None or isinstance(value, bool | int | str) else str(value)


@transaction.atomic
def wallet_create(*, actor, **fields) -> Wallet:
    """Create a wallet and record who created it."""
    wallet = Wallet.objects.create(created_by=actor, **fields)
    WalletChange.objects.create(
        wallet=wallet,
        action=WalletChange.Action.CREATED,
        actor=actor,
        changes={name: _jsonable(value) for name, value in fields.items()},
    )
    return wallet


@transaction.atomic
def wallet_update(*, wallet: Wallet, actor, **fields) -> Wallet:
    """Change a wallet's editable settings (never its expiry rule) and record what changed."""
    locked = Wallet.objects.select_for_update(no_key=True).get(pk=wallet.pk)
    changes = {}
    for name, value in fields.items():
        if name in Wallet.EXPIRY_FIELDS and getattr(locked, name) != value:
            raise ValidationError({name: ERR_EXPIRY_RULE_FROZEN})
        old = getattr(locked, name)
        if old != value:
            changes[name] = [_jsonable(old), _jsonable(value)]
            setattr(locked, name, value)
    if changes:
        locked.save(update_fields=list(changes))
        WalletChange.objects.create(wallet=locked, action=WalletChange.Action.UPDATED, actor=actor, changes=changes)
    return locked


# --- Movements ------------------------------------------------------------------------------


def _existing_by_key(idempotency_key):
    if not idempotency_key:
        return None
    return Transaction.objects.select_related("lot").filter(idempotency_key=idempotency_key).first()


def wallet_credit(
    *,
    wallet: Wallet,
    profile,
    points: Decimal,
    source: str,
    description: str = "",
    campaign=None,
    occurrence: str = "",
    metadata: dict | None = None,
    activates_at: datetime.datetime | None = None,
    expires_at: datetime.datetime | _NeverExpires | None = None,
    idempotency_key: str | None = None,
    actor=None,
    order_id: str = "",
) -> Lot:
    """Credit points as a new lot: active now, or promised until `activates_at`.

    `expires_at`: None = the wallet's default expiry; NEVER_EXPIRES = never.

    Idempotent: a repeated `idempotency_key`, or a repeated (campaign, profile, occurrence),
    returns the lot of the first credit and moves nothing.
    """
    if not wallet.is_active:
        raise ValidationError({"wallet": ERR_WALLET_INACTIVE})
    amount = _positive_points(wallet, points)
    existing = _existing_by_key(idempotency_key)
    if existing is not None:
        return existing.lot
    if campaign is not None:
        lot = Lot.objects.filter(campaign=campaign, profile=profile, occurrence=occurrence).first()
        if lot is not None:
            return lot
    now = timezone.now()
    activates_at, expires_at = _lifecycle(wallet, now, activates_at, expires_at)
    active_now = activates_at <= now
    try:
        with transaction.atomic():
            lot = Lot.objects.create(
                wallet=wallet,
                profile=profile,
                amount=amount,
                remaining=amount,
                issued_at=now,
                activates_at=activates_at,
                expires_at=expires_at,
                source=source,
                campaign=campaign,
                occurrence=occurrence,
                description=description,
                metadata=metadata or {},
            )
            # The lot holds what the credit is (campaign, occurrence, description, metadata);
            # its ledger row records the movement and who asked for it, nothing the lot repeats.
            Transaction.objects.create(
                wallet=wallet,
                profile=profile,
                lot=lot,
                kind=Transaction.Kind.CREDIT if active_now else Transaction.Kind.SCHEDULED,
                source=source,
                points=amount,
                order_id=order_id,
                idempotency_key=idempotency_key or None,
                actor=actor,
                created_at=now,
            )
            LotDue.objects.bulk_create(_due_steps(lot.pk, activates_at if not active_now else None, expires_at))
    except IntegrityError:
        # A concurrent request with the same key or occurrence committed first: it is the credit.
        existing = _existing_by_key(idempotency_key)
        if existing is not None:
            return existing.lot
        if campaign is not None:
            lot = Lot.objects.filter(campaign=campaign, profile=profile, occurrence=occurrence).first()
            if lot is not None:
                return lot
        raise
    return lot


def _not_yet_expired_by_the_job(lots: list[Lot]) -> list[Lot]:
    """Drop locked lots whose EXPIRED row the lifecycle jobs have already written.

    Our clock said the lot is still valid, but a job (whose clock says it expired) may have
    held the lot's lock while we waited, and recorded its remainder as expired: spending it
    now would move points twice. An expiring lot always has one pending step until its expiry
    is written (its activation, which the activation sweep swaps for the expiry in one
    transaction, or its expiry), and the job deletes it in the transaction that writes
    EXPIRED; this query, run after our locks are granted, sees that commit. Each probe is a
    primary-key lookup.
    """
    expiring = [lot for lot in lots if lot.expires_at is not None]
    if not expiring:
        return lots
    pending = Q()
    for lot in expiring:
        pending |= Q(step=LotDue.Step.EXPIRE, due_at=lot.expires_at, lot_id=lot.pk)
        pending |= Q(step=LotDue.Step.ACTIVATE, due_at=lot.activates_at, lot_id=lot.pk)
    still_due = set(LotDue.objects.filter(pending).values_list("lot_id", flat=True))
    return [lot for lot in lots if lot.expires_at is None or lot.pk in still_due]


def _consumption_key(wallet: Wallet):
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    if wallet.consumption_order == Wallet.ConsumptionOrder.EARLIEST_EXPIRY:
        return lambda lot: (lot.expires_at or far, lot.issued_at, lot.pk)
    return lambda lot: (lot.issued_at, lot.pk)


def wallet_debit(
    *,
    wallet: Wallet,
    profile,
    points: Decimal,
    source: str,
    description: str = "",
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    actor=None,
    order_id: str = "",
) -> Transaction:
    """Debit active points, consuming lots in the wallet's consumption order.

    Refuses (ValidationError on `points`) more than the active balance. Idempotent per key.
    """
    amount = _positive_points(wallet, points)
    existing = _existing_by_key(idempotency_key)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            now = timezone.now()
            # Lock the spendable lots in pk order: concurrent debits of one profile queue here,
            # and PostgreSQL re-checks the WHERE on each row after the wait, so a lot emptied by
            # the transaction we waited for drops out.
            lots = list(
                Lot.objects.select_for_update(no_key=True)
                .filter(wallet=wallet, profile=profile, activates_at__lte=now, remaining__gt=0)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by("pk")
            )
            lots = _not_yet_expired_by_the_job(lots)
            if sum((lot.remaining for lot in lots), Decimal(0)) < amount:
                raise ValidationError({"points": ERR_INSUFFICIENT_BALANCE})
            txn = Transaction.objects.create(
                wallet=wallet,
                profile=profile,
                kind=Transaction.Kind.DEBIT,
                source=source,
                points=amount,
                description=description,
                metadata=metadata or {},
                order_id=order_id,
                idempotency_key=idempotency_key or None,
                actor=actor,
                created_at=now,
            )
            left = amount
            consumptions = []
            for lot in sorted(lots, key=_consumption_key(wallet)):
                if left <= 0:
                    break
                take = min(left, lot.remaining)
                Lot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
                consumptions.append(Consumption(transaction=txn, lot=lot, points=take))
                left -= take
            Consumption.objects.bulk_create(consumptions)
    except IntegrityError:
        existing = _existing_by_key(idempotency_key)
        if existing is not None:
            return existing
        raise
    return txn


def wallet_adjust(*, wallet: Wallet, profile, kind: str, points: Decimal, description: str, actor) -> Transaction:
    """A marketer's manual credit or debit (SPEC 3.1 Adjust points); returns its ledger row."""
    if not (description or "").strip():
        raise ValidationError({"description": ERR_DESCRIPTION_REQUIRED})
    if kind == Transaction.Kind.CREDIT:
        with transaction.atomic():
            lot = wallet_credit(
                wallet=wallet,
                profile=profile,
                points=points,
                source=Source.MANUAL,
                description=description.strip(),
                actor=actor,
            )
            return lot.transactions.get(kind__in=[Transaction.Kind.CREDIT, Transaction.Kind.SCHEDULED])
    if kind == Transaction.Kind.DEBIT:
        return wallet_debit(
            wallet=wallet,
            profile=profile,
            points=points,
            source=Source.MANUAL,
            description=description.strip(),
            actor=actor,
        )
    raise ValidationError({"kind": ERR_KIND})


# --- Bulk credit ----------------------------------------------------------------------------

_BULK_INPUT_FLAT = """
    SELECT t.profile_id, %(points)s::numeric AS points, %(occurrence)s::text AS occurrence
    FROM unnest(%(profile_ids)s::bigint[]) AS t(profile_id)
    JOIN segments_profile p ON p.id = t.profile_id AND p.id BETWEEN %(low)s AND %(high)s
    {profile_lock}
"""
_BULK_INPUT_EACH = """
    SELECT t.profile_id, t.points, %(occurrence)s::text AS occurrence
    FROM unnest(%(profile_ids)s::bigint[], %(points)s::numeric[]) AS t(profile_id, points)
    JOIN segments_profile p ON p.id = t.profile_id AND p.id BETWEEN %(low)s AND %(high)s
    {profile_lock}
"""
# Live credits: every row its own occurrence (the triggering event or inaction check).
_BULK_INPUT_OCCURRENCES = """
    SELECT t.profile_id, t.points, t.occurrence
    FROM unnest(%(profile_ids)s::bigint[], %(occurrences)s::text[], %(points)s::numeric[])
         AS t(profile_id, occurrence, points)
    JOIN segments_profile p ON p.id = t.profile_id
    {profile_lock}
"""
# The ids arrive sorted, so each chunk spans a narrow id range: the range lets the planner
# read just that slice of the profile index instead of hashing the whole profile table.
# Foreign keys (wallet, profile, campaign on each lot) are checked by the per-row triggers, or,
# where the role may skip them (config/row_triggers.py), by the locks the statement takes
# itself: the input's profiles FOR KEY SHARE here, the wallet and campaign rows just before.
# The ledger row carries the lot's wallet and profile (its indexes serve histories and balances)
# and nothing else of the lot: campaign, occurrence and description are read through `lot_id`.
_BULK_SQL = """
WITH input AS ({input}),
new_lots AS (
    INSERT INTO wallets_lot (wallet_id, profile_id, amount, remaining, issued_at, activates_at, expires_at,
                             source, campaign_id, occurrence, description, metadata)
    SELECT %(wallet_id)s, input.profile_id, input.points, input.points, %(now)s, %(activates_at)s, %(expires_at)s,
           'CAMPAIGN', %(campaign_id)s, input.occurrence, %(description)s, '{{}}'::jsonb
    FROM input
    ON CONFLICT (campaign_id, profile_id, occurrence) WHERE campaign_id IS NOT NULL DO NOTHING
    RETURNING id, profile_id, amount, occurrence
),
ledger AS (
    INSERT INTO wallets_transaction (wallet_id, profile_id, lot_id, kind, source, points, description, metadata,
                                     order_id, idempotency_key, actor_id, created_at)
    SELECT %(wallet_id)s, new_lots.profile_id, new_lots.id, %(kind)s, 'CAMPAIGN', new_lots.amount, '',
           '{{}}'::jsonb, '', NULL, NULL, %(now)s
    FROM new_lots
    RETURNING profile_id
){steps}
SELECT profile_id FROM ledger
"""
_BULK_STEPS = """,
steps AS (
    INSERT INTO wallets_lotdue (step, due_at, lot_id)
    SELECT step.name, step.due_at, new_lots.id
    FROM new_lots CROSS JOIN (VALUES {values}) AS step(name, due_at)
)"""


def _due_steps(lot_id: int, activates_at, expires_at) -> list[LotDue]:
    """The one lifecycle step the jobs will owe a new lot next: its activation if credited with
    a delay (`activates_at` given), else its expiry if it has one. The activation sweep writes
    the expire step when it activates the lot (`_ACTIVATE_SQL`)."""
    if activates_at is not None:
        return [LotDue(step=LotDue.Step.ACTIVATE, due_at=activates_at, lot_id=lot_id)]
    if expires_at is not None:
        return [LotDue(step=LotDue.Step.EXPIRE, due_at=expires_at, lot_id=lot_id)]
    return []


def _bulk_sql(*, input_sql: str, steps: list[LotDue], lock_keys: bool) -> tuple[str, dict]:
    """The credit statement for these inputs (one of the `_BULK_INPUT_*` selects) and the steps it owes;
    `lock_keys`: the statement locks the profiles it credits (its per-row FK triggers are skipped)."""
    params = {}
    values = []
    for n, step in enumerate(steps):
        values.append(f"(%(step{n})s, %(due{n})s::timestamptz)")
        params[f"step{n}"], params[f"due{n}"] = step.step, step.due_at
    sql = _BULK_SQL.format(
        input=input_sql.format(profile_lock="FOR KEY SHARE OF p" if lock_keys else ""),
        steps=_BULK_STEPS.format(values=", ".join(values)) if steps else "",
    )
    return sql, params


def wallet_credit_bulk(
    *,
    wallet: Wallet,
    profile_ids: list[int],
    points: Decimal | dict[int, Decimal],
    campaign,
    occurrence: str,
    description: str = "",
    activates_at: datetime.datetime | None = None,
    expires_at: datetime.datetime | _NeverExpires | None = None,
) -> list[int]:
    """Credit many profiles for one campaign occurrence; returns the ids of the profiles newly credited.

    One INSERT … SELECT statement per chunk writes the lots, their ledger rows and their
    pending lifecycle steps; the unique (campaign, profile, occurrence) constraint absorbs
    repeats, so running it again credits nobody twice. Unknown profile ids are skipped. Points
    are rounded by the wallet's rule. `expires_at`: None = the wallet's default; NEVER_EXPIRES.
    """
    if campaign is None:
        raise ValueError("wallet_credit_bulk needs a campaign: (campaign, profile, occurrence) makes it idempotent.")
    if not wallet.is_active:
        raise ValidationError({"wallet": ERR_WALLET_INACTIVE})
    if isinstance(points, dict):
        amounts = {pid: _positive_points(wallet, points[pid]) for pid in profile_ids}
    else:
        flat = _positive_points(wallet, points)
        amounts = None
    now = timezone.now()
    activates_at, expires_at = _lifecycle(wallet, now, activates_at, expires_at)
    activated = activates_at <= now
    kind = Transaction.Kind.CREDIT if activated else Transaction.Kind.SCHEDULED
    steps = _due_steps(0, None if activated else activates_at, expires_at)
    profile_ids = sorted(set(profile_ids))
    credited: list[int] = []
    skip = row_triggers_skippable()
    sql, step_params = _bulk_sql(
        input_sql=_BULK_INPUT_FLAT if amounts is None else _BULK_INPUT_EACH, steps=steps, lock_keys=skip
    )
    for start in range(0, len(profile_ids), BULK_CHUNK):
        chunk = list(profile_ids[start : start + BULK_CHUNK])
        chunk_points = [amounts[pid] for pid in chunk] if amounts is not None else [flat] * len(chunk)
        with transaction.atomic(), connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip):
            if skip:
                keys_locked(cursor, ("wallets_wallet", wallet.pk), ("promotions_campaign", campaign.pk))
            cursor.execute(
                sql,
                {
                    "profile_ids": pg_arrays.int_array(chunk),
                    "low": chunk[0],
                    "high": chunk[-1],
                    "points": pg_arrays.numeric_array(chunk_points) if amounts is not None else flat,
                    "wallet_id": wallet.pk,
                    "now": now,
                    "activates_at": activates_at,
                    "expires_at": expires_at,
                    "campaign_id": campaign.pk,
                    "occurrence": occurrence,
                    "description": description,
                    "kind": kind,
                    **step_params,
                },
            )
            credited += [row[0] for row in cursor.fetchall()]
    if steps and len(credited) >= ANALYZE_AFTER:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE wallets_lotdue")
    return sorted(credited)


def wallet_credit_each(
    *,
    wallet: Wallet,
    credits: list[tuple[int, str, Decimal]],
    campaign,
    description: str = "",
    activates_at: datetime.datetime | None = None,
    expires_at: datetime.datetime | _NeverExpires | None = None,
) -> int:
    """Credit (profile id, occurrence, points) rows of one campaign in one statement; returns how many were new.

    The live-campaign variant of `wallet_credit_bulk`: each row has its own occurrence (the
    triggering event or inaction check), so one profile may appear more than once. Idempotent
    per (campaign, profile, occurrence) like every campaign credit; writes the lots' pending
    lifecycle steps in the same statement.
    """
    if campaign is None:
        raise ValueError("wallet_credit_each needs a campaign: (campaign, profile, occurrence) makes it idempotent.")
    if not wallet.is_active:
        raise ValidationError({"wallet": ERR_WALLET_INACTIVE})
    if not credits:
        return 0
    now = timezone.now()
    activates_at, expires_at = _lifecycle(wallet, now, activates_at, expires_at)
    activated = activates_at <= now
    kind = Transaction.Kind.CREDIT if activated else Transaction.Kind.SCHEDULED
    rows = [(pid, occurrence, _positive_points(wallet, points)) for pid, occurrence, points in credits]
    # A live batch is small: its per-row FK triggers cost less than switching them off.
    sql, params = _bulk_sql(
        input_sql=_BULK_INPUT_OCCURRENCES,
        steps=_due_steps(0, None if activated else activates_at, expires_at),
        lock_keys=False,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "profile_ids": pg_arrays.int_array(r[0] for r in rows),
                "occurrences": pg_arrays.text_array(r[1] for r in rows),
                "points": pg_arrays.numeric_array(r[2] for r in rows),
                "wallet_id": wallet.pk,
                "now": now,
                "activates_at": activates_at,
                "expires_at": expires_at,
                "campaign_id": campaign.pk,
                "description": description,
                "kind": kind,
                **params,
            },
        )
        return len(cursor.fetchall())


# --- Lifecycle jobs -------------------------------------------------------------------------

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


_DUE_SQL = """
    SELECT due_at, lot_id FROM wallets_lotdue
    WHERE step = '{step}' AND due_at <= %(now)s AND (due_at, lot_id) > (%(after_at)s, %(after_id)s)
    ORDER BY due_at, lot_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED"""
_DONE_SQL = """
    DELETE FROM wallets_lotdue AS d USING due
    WHERE d.step = '{step}' AND d.due_at = due.due_at AND d.lot_id = due.lot_id
    RETURNING d.lot_id"""
_LAST_SQL = "FROM (SELECT due_at, lot_id FROM due ORDER BY due_at DESC, lot_id DESC LIMIT 1) AS last"
# The lots of the expiries a chunk writes, locked in pk order, their remainder as committed.
_EXPIRING_SQL = """
    SELECT id, wallet_id, profile_id, remaining FROM wallets_lot WHERE id IN ({ids})
    ORDER BY id
    FOR NO KEY UPDATE"""

_ACTIVATE_SQL = f"""
WITH due AS MATERIALIZED ({_DUE_SQL.format(step="activate")}),
done AS ({_DONE_SQL.format(step="activate")}),
lot AS MATERIALIZED (
    SELECT lot.id, lot.wallet_id, lot.profile_id, lot.amount, lot.expires_at
    FROM done JOIN wallets_lot AS lot ON lot.id = done.lot_id
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
