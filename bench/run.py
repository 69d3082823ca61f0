"""`make bench`: every SPEC 9 figure on one machine, one tab-separated line each.

    .venv/bin/python bench/run.py [--small] [--regenerate] [--only distribute,audience,…]

Uses its own PostgreSQL database (promo_benchmark, or promo_benchmark_small with --small) on
its own PostgreSQL server (bench/cluster.py: var/bench-pg, port 5433, bench/postgresql.conf),
or on the server of BENCH_DATABASE_URL when set; generates the data set once with the
product's generator and reuses it while its parameters match. Lines starting with '#' are
progress; every other line is `name<TAB>value<TAB>unit<TAB>target<TAB>PASS|FAIL`.
"""

import argparse
import importlib
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import cluster, dataset  # noqa: E402
from bench.common import FIGURE_NAMES, Context, Figure, log  # noqa: E402

FAMILIES = (
    "distribute",
    "audience",
    "upload",
    "campaign_list",
    "lifecycle",
    "pages",
    "forecast",
    "outcomes",
    "webhooks",
)
# Which figures a family owns, to print FAIL n/a lines when a family crashes.
OWNS = {
    "distribute": (
        "distribute_wallet",
        "distribute_codes",
        "distribute_scaling",
        "distribute_random",
        "naive_ratio_wallet",
        "naive_ratio_codes",
    ),
    "audience": ("audience_estimate", "audience_exact"),
    "upload": ("upload_events_per_s", "event_to_reward_p50", "event_to_reward_p95"),
    "campaign_list": ("campaign_list", "campaign_list_queries"),
    "lifecycle": ("lifecycle_jobs",),
    "pages": ("pages_p95",),
    "webhooks": ("webhooks_run_ratio", "webhooks_events_per_s", "webhooks_events_per_s_single"),
    "forecast": ("forecast_replay",),
    "outcomes": ("outcome_report",),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="1/10 scale (100k profiles, 1M events)")
    parser.add_argument("--regenerate", action="store_true", help="recreate the database and data set")
    parser.add_argument(
        "--only", default="", help="comma-separated families: " + ",".join(FAMILIES) + " (none: only the data set)"
    )
    args = parser.parse_args()

    scale = 0.1 if args.small else 1.0
    profiles, events = int(dataset.FULL["profiles"] * scale), int(dataset.FULL["events"] * scale)
    name = "promo_benchmark_small" if args.small else "promo_benchmark"
    # BENCH_DATABASE_URL: measure on that server; otherwise on the bench's own (bench/cluster.py).
    server = os.environ.get("BENCH_DATABASE_URL") or cluster.ensure_running(log)
    # A database name of its own in BENCH_DATABASE_URL (not postgres / promo_benchmark) is kept,
    # with _small for --small: engineers sharing one server do not truncate each other's runs.
    own = server.rsplit("/", 1)[1].split("?")[0]
    if own not in ("", "postgres", "promo_benchmark", "promo_benchmark_small"):
        name = own + ("_small" if args.small and not own.endswith("_small") else "")
    url = server.rsplit("/", 1)[0] + "/" + name
    wanted = {"profiles": profiles, "events": events, "days": dataset.DAYS, "seed": dataset.SEED}

    have = dataset.marker_params(url) if dataset.database_exists(url, name) else None
    fresh = args.regenerate or have is None or any(have[k] != v for k, v in wanted.items())
    if fresh:
        log(f"(re)creating database {name}")
        dataset.database_recreate(url, name)

    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ.setdefault("DEBUG", "0")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if fresh:
        dataset.generate(profiles=profiles, events=events, log=log)
        have = dataset.marker_params(url)
    dataset.reset_workload(max_event_id=have["max_event_id"])
    log(f"data set: {profiles:,} profiles, {events:,} events over {dataset.DAYS} days, seed {dataset.SEED}")

    chosen = [f for f in (args.only.split(",") if args.only else FAMILIES) if f in FAMILIES]
    ctx = Context(scale=scale, profiles=profiles, events=events)
    figures: dict[str, Figure] = {}
    for family in chosen:
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{family}_bench")
            for figure in module.run(ctx):
                figures[figure.name] = figure
                print(figure.line(), flush=True)
        except Exception:
            traceback.print_exc()
            for fig in OWNS[family]:
                if fig not in figures:
                    figures[fig] = Figure.missing(fig, "", "", f"{family} crashed")
                    print(figures[fig].line(), flush=True)
        log(f"{family}: {time.perf_counter() - started:.1f} s")

    print("# summary", flush=True)
    for fig in FIGURE_NAMES:
        if fig in figures:
            print(figures[fig].line())
    for text in ctx.notes:
        print(f"# note: {text}")
    return 0 if all(f.passed for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
