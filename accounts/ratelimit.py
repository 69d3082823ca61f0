"""Per-API-key request rate limits, counted in a store shared by every web process.

A fixed window per (scope, key): the window number is `now // seconds`; a request is allowed
while the count in the current window is within the limit. Two stores, one atomic step each:

- `cache` (production, `CACHE_URL=redis://…`): Redis `INCR` on a key that expires with its
  window, through Django's RedisCache. Atomic across every process on every machine and costs
  no database round trip on the hot upload path.
- `database` (the embedded default, and any install without Redis): one
  `INSERT … ON CONFLICT DO UPDATE … RETURNING` on `config_ratelimitcounter`, which is atomic
  (the conflicting row is locked for the statement), so the
  count is exact under concurrency. One row per (scope, key), reset when a window starts.

A per-process store (LocMemCache, module globals) would count per gunicorn worker and
multiply the limit by the number of processes, so neither is offered.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.models import RateLimitCounter


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    count: int
    retry_after: int  # seconds until the current window ends


def _count_in_cache(bucket: str, number: int, window: int) -> int:
    key = f"ratelimit:{bucket}:{number}"
    # Kept a little past the window so a machine whose clock lags still finds it.
    cache.add(key, 0, timeout=window + 5)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: this request opens the window
        cache.set(key, 1, timeout=window + 5)
        return 1


_UPSERT = """
    INSERT INTO {table} (bucket, window_number, count) VALUES (%s, %s, 1)
    ON CONFLICT (bucket) DO UPDATE SET
        count = CASE WHEN {table}.window_number = excluded.window_number THEN {table}.count + 1 ELSE 1 END,
        window_number = excluded.window_number
    RETURNING count
"""


def _count_in_database(bucket: str, number: int) -> int:
    table = connection.ops.quote_name(RateLimitCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT.format(table=table), [bucket, number])
        return cursor.fetchone()[0]


def rate_limit_hit(*, scope: str, key: str, rate: tuple[int, int], now: float | None = None) -> Verdict:
    """Count one request for `key` in `scope` and say whether it is within `rate` (requests, seconds)."""
    limit, window = rate
    if limit <= 0:
        return Verdict(allowed=True, limit=0, count=0, retry_after=0)
    now = time.time() if now is None else now
    number = int(now // window)
    bucket = f"{scope}:{key}:{window}"
    if settings.RATE_LIMIT_STORE == "cache":
        count = _count_in_cache(bucket, number, window)
    else:
        count = _count_in_database(bucket, number)
    retry_after = max(1, math.ceil((number + 1) * window - now))
    return Verdict(allowed=count <= limit, limit=limit, count=count, retry_after=retry_after)


def upload_rate() -> tuple[int, int]:
    """(requests, seconds) allowed per API key on the upload API; (0, 0) means no limit."""
    return settings.API_UPLOAD_RATE_LIMIT
