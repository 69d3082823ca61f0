"""Crediting many profiles at once: one set-based statement per chunk of profiles."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core import db
from core.db import keys_locked, row_triggers_skippable, row_triggers_skipped
from wallets.models import LotDue, Transaction, Wallet
from wallets.services.points import ERR_WALLET_INACTIVE, NeverExpires, lot_due_steps, lot_lifecycle, positive_points

# Profiles per set-based statement in wallet_credit_bulk: big enough that per-statement overhead
# vanishes, small enough to keep locks short (bench/wallets_bench.py: a 50,000-row chunk commits
# in well under a second).
BULK_CHUNK = 50_000
# After crediting this many lots, refresh the planner's statistics on the pending lifecycle
# steps (the jobs' plans depend on how many are due).
ANALYZE_AFTER = 100_000

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
# where the role may skip them (core/db.py), by the locks the statement takes
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
    expires_at: datetime.datetime | NeverExpires | None = None,
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
        amounts = {pid: positive_points(wallet, points[pid]) for pid in profile_ids}
    else:
        flat = positive_points(wallet, points)
        amounts = None
    now = timezone.now()
    activates_at, expires_at = lot_lifecycle(wallet, now, activates_at, expires_at)
    activated = activates_at <= now
    kind = Transaction.Kind.CREDIT if activated else Transaction.Kind.SCHEDULED
    steps = lot_due_steps(0, None if activated else activates_at, expires_at)
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
                    "profile_ids": db.int_array(chunk),
                    "low": chunk[0],
                    "high": chunk[-1],
                    "points": db.numeric_array(chunk_points) if amounts is not None else flat,
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
    expires_at: datetime.datetime | NeverExpires | None = None,
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
    activates_at, expires_at = lot_lifecycle(wallet, now, activates_at, expires_at)
    activated = activates_at <= now
    kind = Transaction.Kind.CREDIT if activated else Transaction.Kind.SCHEDULED
    rows = [(pid, occurrence, positive_points(wallet, points)) for pid, occurrence, points in credits]
    # A live batch is small: its per-row FK triggers cost less than switching them off.
    sql, params = _bulk_sql(
        input_sql=_BULK_INPUT_OCCURRENCES,
        steps=lot_due_steps(0, None if activated else activates_at, expires_at),
        lock_keys=False,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "profile_ids": db.int_array(r[0] for r in rows),
                "occurrences": db.text_array(r[1] for r in rows),
                "points": db.numeric_array(r[2] for r in rows),
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
