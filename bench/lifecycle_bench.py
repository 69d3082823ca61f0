"""lifecycle_jobs: the wallets' activation and expiry jobs over the lots distribute_wallet wrote.

distribute_wallet credits every profile (1,000,000 lots at full scale) with points active
after one minute and expiring a day later. This benchmark calls the public job functions
(`wallets.services.lots_activate_due` then `lots_expire_due`) as the beat tasks do, with
LIFECYCLE_SWEEPS concurrent sweeps (2 by default: one per core), "now" moved past each time,
and reports their sum, starting on a settled database (bench.common.settle) and logging the
costliest statements. SPEC 9: ≤ 30 s for 1,000,000 lots.
"""

import datetime
import time

from django.conf import settings

from bench.common import Context, Figure, log, settle, statements_reset, statements_top
from wallets import services as wallet_services


def run(ctx: Context):
    if ctx.lots is None:
        yield Figure.missing("lifecycle_jobs", "s", f"<={ctx.seconds(30):g}", "needs the lots of distribute_wallet")
        return
    _campaign_id, count, published_at = ctx.lots
    settle()  # as before every timed run (bench.common.settle): no autovacuum or checkpoint inside it
    breakdown = statements_reset()
    started = time.perf_counter()
    activated = wallet_services.lots_activate_due(
        now=published_at + datetime.timedelta(minutes=10), sweeps=settings.LIFECYCLE_SWEEPS
    )
    activate_s = time.perf_counter() - started
    started = time.perf_counter()
    expired = wallet_services.lots_expire_due(
        now=published_at + datetime.timedelta(days=3), sweeps=settings.LIFECYCLE_SWEEPS
    )
    expire_s = time.perf_counter() - started
    log(f"lifecycle: activate {activated:,} in {activate_s:.1f} s, expire {expired:,} in {expire_s:.1f} s")
    if breakdown:
        for line in statements_top(4):
            log(f"    {line}")
    ctx.note(
        f"lifecycle_jobs over {count:,} lots: activation {activate_s:.1f} s ({activated:,} rows), "
        f"expiry {expire_s:.1f} s ({expired:,} rows), {settings.LIFECYCLE_SWEEPS} concurrent sweeps each"
    )
    yield Figure.at_most("lifecycle_jobs", activate_s + expire_s, "s", ctx.seconds(30))
