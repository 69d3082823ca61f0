"""Shared pieces of the SPEC 9 benchmarks: the figure line, the run context, timing helpers."""

import dataclasses
import statistics
import time

# The figures `make bench` prints (the twelve of issue 8, then pages_p95), in this order (issue 8).
FIGURE_NAMES = (
    "distribute_wallet",
    "distribute_codes",
    "distribute_scaling",  # issue 18: distribute_wallet with 1 worker process ÷ with 2
    "distribute_random",  # issue 18: a Random 1–100,000 points run ÷ the Flat run
    "naive_ratio_wallet",
    "naive_ratio_codes",
    "audience_estimate",
    "audience_exact",
    "upload_events_per_s",
    "event_to_reward_p50",
    "event_to_reward_p95",
    "campaign_list",
    "campaign_list_queries",
    "lifecycle_jobs",
    "pages_p95",  # issue 18: every page reachable from the navigation (bench/pages_bench.py)
    # issue 20: webhook trigger cost on a run, and delivery throughput (bench/webhooks_bench.py)
    "webhooks_run_ratio",
    "webhooks_events_per_s",
    "webhooks_events_per_s_single",
    "forecast_replay",  # issue 21: a 30-day replay through a live campaign (bench/forecast_bench.py)
    "outcome_report",  # issue 19: uplift of a campaign over every profile with a holdout (bench/outcomes_bench.py)
)


@dataclasses.dataclass
class Figure:
    """One SPEC 9 figure: `name<TAB>value<TAB>unit<TAB>target<TAB>PASS|FAIL`; value None = not measured."""

    name: str
    value: float | None
    unit: str
    target: str  # "<=30", ">=5000", "=7"
    passed: bool
    note: str = ""

    @classmethod
    def at_most(cls, name, value, unit, limit, note=""):
        return cls(name, value, unit, f"<={limit:g}", value is not None and value <= limit, note)

    @classmethod
    def at_least(cls, name, value, unit, floor, note=""):
        return cls(name, value, unit, f">={floor:g}", value is not None and value >= floor, note)

    @classmethod
    def missing(cls, name, unit, target, note):
        return cls(name, None, unit, target, False, note)

    def line(self) -> str:
        if self.value is None:
            value = "n/a"
        elif self.unit in ("queries",):
            value = f"{self.value:.0f}"
        else:
            value = f"{self.value:.3f}" if abs(self.value) < 10 else f"{self.value:.1f}"
        return "\t".join([self.name, value, self.unit, self.target, "PASS" if self.passed else "FAIL"])


@dataclasses.dataclass
class Context:
    """What every benchmark gets: the scale (1 or 0.1), the data set's size, and notes to report."""

    scale: float
    profiles: int
    events: int
    notes: list = dataclasses.field(default_factory=list)
    # Per-profile seconds of the set-based paths, for the naive ratios.
    per_profile: dict = dataclasses.field(default_factory=dict)
    # Lots left by distribute_wallet for lifecycle_jobs: (campaign id, count, activates_at, expires_at).
    lots: tuple | None = None

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(text)

    def seconds(self, full_scale_target: float) -> float:
        """A time target for work that grows with the data set, scaled like the data."""
        return full_scale_target * self.scale


# What a timed run writes: vacuumed and analysed before the next one (bench.common.settle).
RUN_TABLES = (
    "wallets_lot",
    "wallets_transaction",
    "wallets_lotdue",
    "promotions_grant",
    "segments_event",
    "segments_customlistmember",
    "coupons_couponcode",
    "coupons_codeassignment",
)


def settle() -> None:
    """Before a timed run: the earlier runs' rows vacuumed and analysed, then a checkpoint.

    Each run writes millions of rows. Left alone, autovacuum of the last run's tables and a
    checkpoint forced by its WAL land in the middle of the next run, on the same two cores (seen:
    a 2-worker run at 51.7 s instead of 30 s), so the figures measured the timing of background
    maintenance, not the run. Every timed run now starts as the first one does: right after a
    checkpoint (its pages' first changes write full-page images, the dearer case), with nothing
    left for autovacuum.
    """
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(RUN_TABLES))
        try:
            cursor.execute("CHECKPOINT")
        except DatabaseError:  # a BENCH_DATABASE_URL role without pg_checkpoint: vacuumed only
            log("settle: CHECKPOINT not allowed for this role; the run may meet a checkpoint")


def statements_reset() -> bool:
    """Zero pg_stat_statements (bench/postgresql.conf preloads it); False where it is not installed."""
    from django.db import connection

    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            cursor.execute("SELECT pg_stat_statements_reset()")
        except Exception:  # noqa: BLE001 - not preloaded (or not allowed) on a BENCH_DATABASE_URL server
            return False
    return True


def statements_top(limit: int = 6) -> list[str]:
    """Where the database time went since `statements_reset`: the costliest statements, one line each."""
    from django.db import connection

    with connection.cursor() as cursor:
        try:
            cursor.execute(
                "SELECT total_exec_time / 1000, calls, wal_bytes / 1e6, regexp_replace(query, '\\s+', ' ', 'g') "
                "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "ORDER BY total_exec_time DESC LIMIT %s",
                [limit],
            )
        except Exception:  # noqa: BLE001 - extension missing
            return []
        return [f"{sec:.1f} s in {calls} calls, {wal:.0f} MB WAL: {query[:90]}" for sec, calls, wal, query in cursor]


def log(text: str) -> None:
    """Progress goes to stderr-like lines prefixed with '#', so stdout stays parseable."""
    print(f"# {time.strftime('%H:%M:%S')} {text}", flush=True)


def median_ms(fn, *, runs: int = 5, warmup: int = 1) -> tuple[object, float]:
    """(last result, median wall time in ms) of `runs` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    timings = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        timings.append((time.perf_counter() - started) * 1000)
    return result, statistics.median(timings)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0–100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]
