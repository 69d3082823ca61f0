"""Handing out one-time codes from a pool: the claim that bulk coupons and voucher lists share.

A *pool* is a table of codes owned by a series (a bulk coupon, a voucher list), each code free
while its `assigned_at` is NULL, and an append-only assignment table. Two unique indexes on the
assignments carry the guarantees, whatever the callers do:
- UNIQUE(code): a code is given at most once, ever, across campaigns and concurrent workers;
- UNIQUE(owner, COALESCE(campaign, 0), profile, occurrence): one code per profile and
  occurrence, so a retried task or a repeated call gives nothing new.

`assign_bulk` serves profiles in chunks, one statement per chunk (`claim_chunk`); `assign_each`
serves a live batch's (profile, occurrence) items, each its own occurrence, in one statement:
  owner    the series row, if it may give codes now (locked FOR KEY SHARE);
  wanted   the chunk's profiles (items) that exist and hold no code for the key, one
           unique-index probe each, numbered in id order (items: in the order given);
  pool     as many free codes, in id order after the series' cursor, FOR UPDATE SKIP LOCKED,
           read from the series' (owner, id) index and numbered the same way;
  inserted the pairs (profile n, code n), ON CONFLICT DO NOTHING: a concurrent call that
           served the same profile first wins, and the code it would have had stays free;
  marked   the codes actually given leave the pool (primary-key lookups);
  counted  the owner's `codes_assigned` and `codes_cursor` move in the same statement.

"Given" (`assigned_at`) is in no index of the code table: the free codes are found from the
series' cursor (`codes_cursor`, the highest code id given: codes are handed out in id order),
not from a partial index whose predicate the claim would change. So marking a code given
changes no indexed column and is a HOT update (no new index entries) wherever the code's page
has room, which the code tables' fillfactor keeps (migrations coupons 0008, vouchers 0008). A
code skipped behind the cursor (held by a claim that then rolled back) is found again by the
retry from the start of the pool that a short chunk makes while free codes remain.

Where the role may set `session_replication_role` (superuser, or GRANT SET ON PARAMETER), the
chunk skips the per-row foreign-key triggers of the assignment insert (four SPI queries per
code, most of the statement's time at a million codes) and takes the same locks itself,
set-based: the owner and campaign rows and the chunk's profiles FOR KEY SHARE, the codes FOR
UPDATE. Every key the insert writes comes from a row the statement locked, so the
foreign keys hold all the same (core/db.py). Without the privilege the triggers run as usual.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import OperationalError, connection, transaction

from core import db
from core.db import row_triggers_skipped

# How many times a chunk is retried when it came back short while free codes remain (codes
# other workers hold in open transactions are skipped, not waited for).
MAX_ATTEMPTS = 20
DEADLOCK = "40P01"


@dataclass(frozen=True)
class Pool:
    """Where one kind of pool lives. Table and column names are trusted constants."""

    owner_table: str  # e.g. coupons_coupon; has codes_assigned and codes_cursor
    owner_column: str  # the owner's key in both the code and the assignment table
    code_table: str  # has id, code, assigned_at and owner_column; an index on (owner_column, id)
    assignment_table: str  # has owner_column, code_column, profile_id, campaign_id, occurrence, assigned_at
    code_column: str  # the assignment's key to the code
    # SQL condition on the owner row (alias o) for "may give codes now"; may use %(name)s
    # parameters given to assign_bulk as `params`.
    usable: str
    # Further assignment columns: (column, SQL value), where the value may use %(name)s
    # parameters and pool.code (the code given).
    extra_columns: tuple[tuple[str, str], ...] = field(default=())


Pairs = list[tuple[int, str]]
# A chunk claim: (profile ids or (profile id, occurrence) items, after: a code id or None = from the
# start) -> ((profile_id, occurrence, code) given, how many wanted a code, highest code id given)
Claim = Callable[[list, int | None], tuple[list[tuple[int, str, str]], int, int]]


# The profiles of the chunk that want a code, numbered: one occurrence for all (a run's chunk) ...
_WANTED_ONE = """
    SELECT w.id AS profile_id, %(occurrence)s::text AS occurrence, row_number() OVER (ORDER BY w.id) AS rn
    FROM (
        -- = ANY(...) reads the chunk's profiles by primary key. The LATERAL ... LIMIT 1 is one
        -- probe of the once-per-occurrence unique index per profile (spelled like the index):
        -- a plain anti-join was planned from stale statistics as a scan of every assignment.
        SELECT sp.id FROM segments_profile AS sp
        LEFT JOIN LATERAL (
            SELECT 1 AS hit FROM {assignment_table} AS a
            WHERE a.{owner_column} = %(owner)s AND COALESCE(a.campaign_id, 0) = %(campaign_key)s
              AND a.profile_id = sp.id AND a.occurrence = %(occurrence)s
            LIMIT 1
        ) AS taken ON true
        WHERE sp.id = ANY(%(profiles)s::bigint[]) AND taken.hit IS NULL AND EXISTS (SELECT 1 FROM owner)
        ORDER BY sp.id
        {profile_lock}
    ) AS w
"""
# ... or each (profile, occurrence) its own (a live batch: one item per trigger), numbered in the
# order given, so when codes run out the earlier items have them, as one-by-one would.
_WANTED_EACH = """
    SELECT w.id AS profile_id, w.occurrence, row_number() OVER (ORDER BY w.n) AS rn
    FROM (
        SELECT sp.id, t.occurrence, min(t.n) AS n
        FROM unnest(%(profiles)s::bigint[], %(occurrences)s::text[]) WITH ORDINALITY AS t(profile_id, occurrence, n)
        JOIN segments_profile AS sp ON sp.id = t.profile_id
        LEFT JOIN LATERAL (
            SELECT 1 AS hit FROM {assignment_table} AS a
            WHERE a.{owner_column} = %(owner)s AND COALESCE(a.campaign_id, 0) = %(campaign_key)s
              AND a.profile_id = sp.id AND a.occurrence = t.occurrence
            LIMIT 1
        ) AS taken ON true
        WHERE taken.hit IS NULL AND EXISTS (SELECT 1 FROM owner)
        GROUP BY sp.id, t.occurrence
    ) AS w
"""

_CLAIM_SQL = """
WITH owner AS (
    SELECT o.id, o.codes_cursor FROM {owner_table} AS o
    WHERE o.id = %(owner)s AND ({usable})
      {campaign_lock}
    FOR KEY SHARE OF o
),
wanted AS ({wanted}),
pool AS (
    SELECT c.id, c.code, row_number() OVER (ORDER BY c.id) AS rn
    FROM (
        -- Free codes in id order, from the series' cursor (every code below it was given when
        -- it moved there) or from `after`, whichever is further; from the start when asked.
        -- The (owner, id) index serves it; `assigned_at` is in no index, so marking a code
        -- below is a HOT update (no new index entries) where its page has room (fillfactor).
        SELECT id, code FROM {code_table}
        WHERE {owner_column} = %(owner)s AND assigned_at IS NULL
          AND id > CASE WHEN %(from_start)s THEN 0
                        ELSE GREATEST(%(after)s, (SELECT codes_cursor FROM owner)) END
        ORDER BY id
        LIMIT (SELECT count(*) FROM wanted)
        FOR UPDATE SKIP LOCKED
    ) AS c
),
inserted AS (
    -- Ascending profile order: concurrent chunks meet each other's unique-index entries in
    -- the same order, so they queue rather than deadlock.
    INSERT INTO {assignment_table}
        ({code_column}, {owner_column}, profile_id, campaign_id, occurrence, assigned_at{extra_names})
    SELECT pool.id, %(owner)s, wanted.profile_id, %(campaign)s, wanted.occurrence, %(now)s{extra_values}
    FROM wanted JOIN pool ON pool.rn = wanted.rn
    ORDER BY wanted.profile_id, wanted.occurrence
    ON CONFLICT DO NOTHING
    RETURNING {code_column} AS code_id, profile_id, occurrence
),
marked AS (
    -- = ANY(ARRAY(...)) keeps this primary-key lookups; a join against the CTE was planned
    -- as a hash of the whole pool (its row estimate is far off).
    UPDATE {code_table} AS c SET assigned_at = %(now)s
    WHERE c.id = ANY(ARRAY(SELECT code_id FROM inserted))
    RETURNING c.id
),
counted AS (
    UPDATE {owner_table}
    SET codes_assigned = codes_assigned + (SELECT count(*) FROM marked),
        codes_cursor = GREATEST(codes_cursor, (SELECT max(id) FROM marked))
    WHERE id = %(owner)s AND EXISTS (SELECT 1 FROM inserted)
    RETURNING id
)
SELECT inserted.profile_id, inserted.occurrence, pool.code, inserted.code_id
FROM inserted JOIN pool ON pool.id = inserted.code_id
UNION ALL
-- One summary row: how many profiles wanted a code.
SELECT NULL, NULL, NULL, (SELECT count(*) FROM wanted)
"""

_CAMPAIGN_LOCK = (
    "AND (%(campaign)s::bigint IS NULL OR EXISTS (SELECT 1 FROM promotions_campaign AS k"
    " WHERE k.id = %(campaign)s FOR KEY SHARE))"
)


def claim_sql(pool: Pool, *, lock_keys: bool, each: bool = False) -> str:
    """The chunk statement for `pool`; `lock_keys` adds the locks the skipped FK triggers would take;
    `each`: every profile comes with its own occurrence."""
    names = {"assignment_table": pool.assignment_table, "owner_column": pool.owner_column}
    if each:
        # A live batch is small: its per-row FK triggers cost less than switching them off.
        wanted = _WANTED_EACH.format(**names)
        lock_keys = False
    else:
        wanted = _WANTED_ONE.format(**names, profile_lock="FOR KEY SHARE OF sp" if lock_keys else "")
    return _CLAIM_SQL.format(
        wanted=wanted,
        owner_table=pool.owner_table,
        owner_column=pool.owner_column,
        code_table=pool.code_table,
        assignment_table=pool.assignment_table,
        code_column=pool.code_column,
        usable=pool.usable,
        campaign_lock=_CAMPAIGN_LOCK if lock_keys else "",
        extra_names="".join(f", {name}" for name, _ in pool.extra_columns),
        extra_values="".join(f", {value}" for _, value in pool.extra_columns),
    )


def claim_chunk(
    *,
    pool: Pool,
    owner_id: int,
    profile_ids: list[int],
    campaign_id: int | None,
    occurrence: str | list[str],
    now,
    after: int | None,
    params: dict | None = None,
    skip_row_triggers: bool = False,
) -> tuple[list[tuple[int, str, str]], int, int]:
    """Give codes to one chunk of profiles (PostgreSQL), in the caller's transaction.

    `occurrence`: one for every profile, or a list (as long as `profile_ids`) giving each its own
    (a live batch); `after`: claim codes after this id (or the series' cursor, if further);
    None = from the start of the pool. Returns ((profile_id, occurrence, code) in profile order,
    how many wanted a code, highest code id given).
    """
    each = isinstance(occurrence, list)
    sql = claim_sql(pool, lock_keys=skip_row_triggers, each=each)
    values = {
        **(params or {}),
        "owner": owner_id,
        "profiles": db.int_array(profile_ids),
        "campaign": campaign_id,
        "campaign_key": campaign_id or 0,
        "occurrence": "" if each else occurrence,
        "occurrences": db.text_array(occurrence) if each else None,
        "now": now,
        "after": after or 0,
        "from_start": after is None,
    }
    with connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip_row_triggers and not each):
        # The row estimates of the CTEs are guesses (cost in the 100,000s): JIT compiling
        # the plan cost ~0.1 s per chunk and saved nothing.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, values)
        rows = cursor.fetchall()
        cursor.execute("SET LOCAL jit = DEFAULT")
    given = sorted((int(pid), occ, code) for pid, occ, code, _ in rows if pid is not None)
    wanted = next(int(n) for pid, _, _, n in rows if pid is None)
    top = max((int(code_id) for pid, _, _, code_id in rows if pid is not None), default=0)
    return given, wanted, top


def items_claim(*, pool: Pool, owner_id: int, campaign_id: int | None, now, params: dict | None = None) -> Claim:
    """The `claim` of `assign_each` for one owner's pool: each (profile id, occurrence) item its own occurrence."""

    def claim(keys, after):
        return claim_chunk(
            pool=pool,
            owner_id=owner_id,
            profile_ids=[pid for pid, _ in keys],
            occurrence=[occ for _, occ in keys],
            campaign_id=campaign_id,
            now=now,
            after=after,
            params=params,
        )

    return claim


def _claim_with_deadlock_retry(claim: Claim, keys: list, after: int | None):
    # Each chunk is its own (sub)transaction. A deadlock can still happen when a caller holds
    # its own transaction across chunks; rolling back the chunk's savepoint releases its
    # locks, so the chunk is simply tried again.
    for attempt in range(5):
        try:
            with transaction.atomic():
                return claim(keys, after)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", "") != DEADLOCK or attempt == 4:
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


def assign_bulk(*, profile_ids, chunk_size: int, claim: Claim, free_codes_remain: Callable[[], bool]) -> Pairs:
    """Serve `profile_ids` chunk by chunk through `claim`; returns the (profile_id, code) given.

    Profiles that already hold a code for the key are skipped by the claim itself. A chunk
    that comes back short while `free_codes_remain()` (codes another worker held were
    skipped, or freed again by a claim that rolled back behind the cursor) is tried again for
    the profiles still unserved, from the start of the pool; when no free code remains the
    rest of the profiles get nothing.
    """
    ids = sorted({int(pid) for pid in profile_ids})
    given: Pairs = []
    after = 0
    for start in range(0, len(ids), chunk_size):
        pending = ids[start : start + chunk_size]
        for attempt in range(MAX_ATTEMPTS):
            got, wanted, top = _claim_with_deadlock_retry(claim, pending, after if attempt == 0 else None)
            given.extend((pid, code) for pid, _, code in got)
            after = max(after, top)
            if len(got) >= wanted:
                break  # every profile that wanted a code has one (or the owner gives none)
            if not free_codes_remain():
                return given
            served = {pid for pid, _, _ in got}
            pending = [pid for pid in pending if pid not in served]
            if not got:
                time.sleep(0.01 * (attempt + 1))
    return given


def assign_each(
    *, items: list[tuple[int, str]], claim: Claim, free_codes_remain: Callable[[], bool]
) -> dict[tuple[int, str], str]:
    """Serve (profile_id, occurrence) items, each its own occurrence (a live batch), with one
    claim statement (more only when codes held by another worker were skipped); returns
    {(profile_id, occurrence): code} for the items given a code now. When codes run out, the
    items earlier in `items` have them."""
    pending = list(dict.fromkeys((int(pid), occ) for pid, occ in items))
    given: dict[tuple[int, str], str] = {}
    for attempt in range(MAX_ATTEMPTS):
        if not pending:
            break
        got, wanted, _ = _claim_with_deadlock_retry(claim, pending, 0 if attempt == 0 else None)
        given.update(((pid, occ), code) for pid, occ, code in got)
        if len(got) >= wanted or not free_codes_remain():
            break
        pending = [key for key in pending if key not in given]
        if not got:
            time.sleep(0.01 * (attempt + 1))
    return given
