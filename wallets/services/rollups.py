"""Keeping the lot rollup small: settled rows merged (the campaign page reads a campaign's rows).

The lot rollup (migration 0013) gains a row per credit call and shard: a live campaign adds one
per batch of rewards, for as long as it runs. A row whose lots can no longer change bucket is
*settled*: expired (`expires_at` passed: its remainder stays expired, its spent part redeemed),
or active for good (activated, never expiring). Settled rows of one (campaign, wallet) count
the same at every later moment, so they merge into one row per kind, keyed at the epoch:
(activates_at, expires_at) = (epoch, epoch) for the expired, (epoch, NULL) for the active.
`_bucket_aggregates` classifies those exactly as it did the rows they replace, at any moment
from the compaction on (not before it: totals at an earlier `at` are only exact uncompacted).

Concurrent writers: the triggers add to rows by their own key, so a debit that lowers a merged
lot's remainder (a debit's clock a moment behind the expiry) adds a row with its original key,
which the next compaction merges in turn; nothing is lost or counted twice. A chunk takes its
rows with SKIP LOCKED (a row a writer holds waits for the next run) and upserts the merged rows
in key order, as the triggers do.
"""

import datetime

from django.db import connection, transaction
from django.utils import timezone

SETTLED_AT = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
COMPACT_CHUNK = 20_000

_COMPACT_SQL = """
WITH picked AS (
    SELECT ctid FROM wallets_lotrollup
    WHERE activates_at <> %(epoch)s
      AND (expires_at <= %(now)s OR (expires_at IS NULL AND activates_at <= %(now)s))
    ORDER BY campaign_id, wallet_id, activates_at, expires_at, shard
    LIMIT %(chunk)s
    FOR UPDATE SKIP LOCKED
), settled AS (
    DELETE FROM wallets_lotrollup
    WHERE ctid = ANY(ARRAY(SELECT ctid FROM picked))
    RETURNING campaign_id, wallet_id, expires_at IS NULL AS forever, lots, amount, remaining
), merged AS (
    INSERT INTO wallets_lotrollup AS r
        (campaign_id, wallet_id, activates_at, expires_at, shard, lots, amount, remaining)
    SELECT campaign_id, wallet_id, %(epoch)s, CASE WHEN forever THEN NULL ELSE %(epoch)s END, 0,
           sum(lots), sum(amount), sum(remaining)
    FROM settled
    GROUP BY campaign_id, wallet_id, forever
    ORDER BY campaign_id, wallet_id, forever
    ON CONFLICT (campaign_id, wallet_id, activates_at, expires_at, shard) DO UPDATE SET
        lots = r.lots + EXCLUDED.lots,
        amount = r.amount + EXCLUDED.amount,
        remaining = r.remaining + EXCLUDED.remaining
    RETURNING 1
)
SELECT (SELECT count(*) FROM settled), (SELECT count(*) FROM merged)
"""  # noqa: S608 (constants only)


def lot_rollup_compact(*, now: datetime.datetime | None = None, chunk: int = COMPACT_CHUNK) -> int:
    """Merge the settled rows of the lot rollup, a chunk per transaction; returns rows merged away."""
    now = now or timezone.now()
    removed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_COMPACT_SQL, {"now": now, "epoch": SETTLED_AT, "chunk": chunk})
            settled, merged = cursor.fetchone()
        removed += settled - merged
        if settled < chunk:
            return removed
