"""The benchmark database and its data set (SPEC 9: 1M profiles, 10M events over 90 days, fixed seed).

The data set is generated once with the product's `generate_audience` command and reused:
a marker row in `bench_dataset` records its parameters; a run with other parameters (or
`--regenerate`) recreates the database. Between runs `reset_workload` empties everything the
benchmarks themselves write (campaigns, wallets, coupons, grants, uploaded events) so each run
starts from the same state.
"""

import time

import psycopg

SEED = 20261123
DAYS = 90
FULL = {"profiles": 1_000_000, "events": 10_000_000}

# Tables the data set lives in (kept between runs); migrations' own rows are kept too.
KEEP_TABLES = {
    "bench_dataset",
    "segments_profile",
    "segments_event",
    "segments_eventdefinition",
    "segments_eventpropertydefinition",
    "segments_profilepropertydefinition",
    "django_migrations",
    "django_content_type",
    "auth_permission",
    "auth_group",
    "auth_group_permissions",
}
KEEP_PREFIXES = ("django_celery_beat_",)


def admin_url(database_url: str) -> str:
    """The same server, database `postgres` (to create / drop the benchmark database)."""
    return database_url.rsplit("/", 1)[0] + "/postgres"


def database_recreate(database_url: str, name: str) -> None:
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def database_exists(database_url: str, name: str) -> bool:
    with psycopg.connect(admin_url(database_url), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def marker_params(database_url: str) -> dict | None:
    """The parameters of the data set already in the database, or None."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('bench_dataset')").fetchone()[0]
        if not exists:
            return None
        row = conn.execute("SELECT profiles, events, days, seed, max_event_id FROM bench_dataset").fetchone()
    if row is None:
        return None
    return dict(zip(("profiles", "events", "days", "seed", "max_event_id"), row, strict=True))


def generate(*, profiles: int, events: int, log) -> float:
    """Run the product's generator (Django must be set up on the benchmark database); seconds taken."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("generate_audience", profiles=profiles, events=events, days=DAYS, seed=SEED)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_dataset (profiles bigint, events bigint, days int, seed bigint, "
            "max_event_id bigint, generated_at timestamptz, seconds float)"
        )
        cursor.execute(
            "INSERT INTO bench_dataset SELECT %s, %s, %s, %s, (SELECT max(id) FROM segments_event), now(), %s",
            [profiles, events, DAYS, SEED, elapsed],
        )
    with connection.cursor() as cursor:
        # As autovacuum would leave them: hint bits set and the visibility map current.
        cursor.execute("VACUUM ANALYZE segments_profile")
        cursor.execute("VACUUM ANALYZE segments_event")
    log(f"generate_audience: {profiles:,} profiles, {events:,} events in {elapsed:.1f} s")
    return elapsed


def reset_workload(*, max_event_id: int) -> None:
    """Empty what earlier benchmark runs wrote; keep the data set."""
    from django.db import connection

    tables = [
        t for t in connection.introspection.table_names() if t not in KEEP_TABLES and not t.startswith(KEEP_PREFIXES)
    ]
    with connection.cursor() as cursor:
        if tables:
            cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        cursor.execute("DELETE FROM segments_event WHERE id > %s", [max_event_id])
        if cursor.rowcount:
            # The events the last run added (system events, uploads) leave dead index entries
            # in the 10M-row table until autovacuum; without this each run inserts into more
            # bloated indexes than the one before (bench/RESULTS.md, run-to-run drift).
            cursor.execute("VACUUM (ANALYZE) segments_event, segments_profile")
