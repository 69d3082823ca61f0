"""Live campaigns under upload load (SPEC 9: ≥ 5,000 events/s stored with 10 live campaigns running,
event-to-reward p95 ≤ 2 s with one worker).

    DATABASE_URL=postgres://…/promo_bench_live .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://…/promo_bench_live .venv/bin/python bench/live_bench.py --batches 30

In one process, per 1000-record batch: the upload API's store (`segments.services.upload_records`),
then the live matching task one worker runs for it (`promotions.engine.live.events_process`), then the task
for the system events those grants recorded. 10 running live campaigns (flat, percentage with a
property filter, random, per-user budget and daily cap, a coupon-free mix) trigger on 10 of the 12
event names in the stream, and 200 more live campaigns trigger on names that never arrive (the
lookup must stay one indexed query). Latency per batch = store + match (+ system-event match): what
an event waits with one idle worker. Rows are left in the bench database; drop it afterwards.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from promotions.engine import grants, live  # noqa: E402
from promotions.models import Campaign, Grant  # noqa: E402
from segments import live as segment_live  # noqa: E402
from segments import services as segment_services  # noqa: E402
from wallets.models import Wallet  # noqa: E402

NAMES = [f"Action {i}" for i in range(10)] + ["Page Viewed", "Session Started"]
C = Campaign


def campaigns(now) -> list[Campaign]:
    wallet, _ = Wallet.objects.get_or_create(name="Bench coins", defaults={"points_name": "Coins"})
    common = {
        "qualification": C.Qualification.LIVE_ACTION,
        "reward_type": C.RewardType.POINTS,
        "wallet": wallet,
        "status": C.Status.RUNNING,
        "starts_at": now - timezone.timedelta(minutes=1),
        "live_start": C.LiveStart.AT,
        "live_end": C.LiveEnd.NEVER,
    }
    kinds = [
        {"points_type": C.PointsType.FLAT, "flat_points": 10},
        {
            "points_type": C.PointsType.PERCENTAGE,
            "percentage": 5,
            "points_property": "Amount",
            "max_points_per_reward": 50,
        },
        {"points_type": C.PointsType.RANDOM, "random_min": 1, "random_max": 20, "random_favor": "min"},
        {"points_type": C.PointsType.FLAT, "flat_points": 5, "max_per_user_day": 3, "max_per_user_total": 10},
        {
            "points_type": C.PointsType.PROPORTIONAL,
            "proportional_units": 100,
            "proportional_points": 2,
            "points_property": "Amount",
            "budget_per_user": 500,
        },
    ]
    made = []
    for i in range(10):
        filters = [{"property": "Amount", "operator": "greater_than", "value": 100}] if i % 2 else []
        made.append(
            Campaign.objects.create(
                name=f"Bench live {i}",
                triggers=[{"event": NAMES[i], "filters": filters}],
                budget_campaign=10_000_000,
                **common,
                **kinds[i % len(kinds)],
            )
        )
    idle = Campaign.objects.bulk_create(
        [
            Campaign(
                name=f"Bench idle {i}",
                triggers=[{"event": f"Never {i}", "filters": []}],
                points_type=C.PointsType.FLAT,
                flat_points=1,
                **common,
            )
            for i in range(200)
        ]
    )
    for campaign in made + idle:
        live.triggers_sync(campaign=campaign)
    return made


def records(batch: int, profiles: int, rng: random.Random) -> list[dict]:
    return [
        {
            "type": "event",
            "identity": f"bench-{rng.randrange(profiles)}",
            "evtName": rng.choice(NAMES),
            "evtData": {"Amount": rng.randrange(1, 2000), "Product ID": f"p{rng.randrange(500)}"},
        }
        for _ in range(batch)
    ]


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    # Campaigns of an earlier run of this script would match the same events: stop them.
    Campaign.objects.filter(name__startswith="Bench ").update(status=C.Status.STOPPED)
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument(
        "--run-events", type=int, default=0, help="also time the system events of N run grants (5,000 per chunk)"
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run against PostgreSQL (DATABASE_URL).")
    rng = random.Random(7)
    now = timezone.now()
    made = campaigns(now)
    handed: list[list[int]] = []
    # The task the hook would enqueue runs right here instead (one worker, no broker in between).
    segment_live.events_stored = lambda *, event_ids: handed.append(list(event_ids))

    store_times, match_times, latencies = [], [], []
    stored_events = 0
    for _ in range(args.batches):
        recs = records(args.batch_size, args.profiles, rng)
        started = time.perf_counter()
        result = segment_services.upload_records(records=recs)
        stored = time.perf_counter()
        stored_events += len(result.event_ids)
        while handed:
            live.events_process(event_ids=handed.pop(0))  # the batch, then its system events
        done = time.perf_counter()
        store_times.append(stored - started)
        match_times.append(done - stored)
        latencies.append(done - started)

    total_store, total_match = sum(store_times), sum(match_times)
    grants = Grant.objects.filter(campaign__in=made)
    granted = grants.filter(granted=True).count()
    print(f"batches {args.batches} × {args.batch_size} events, {args.profiles} profiles, 10 live + 200 idle campaigns")
    print(f"store_rate {stored_events / total_store:.0f} events/s (target >= 5000)")
    print(f"match_rate {stored_events / total_match:.0f} events/s for one worker")
    print(f"grants {grants.count()} ({granted} granted) = {grants.count() / args.batches:.0f} per batch")
    print(
        f"batch_latency median {statistics.median(latencies):.3f}s p95 {pct(latencies, 0.95):.3f}s "
        f"(store p95 {pct(store_times, 0.95):.3f}s, match p95 {pct(match_times, 0.95):.3f}s; target p95 <= 2 s)"
    )
    if args.run_events:
        run_system_events(args.run_events, made[0])
    print(f"load {os.getloadavg()[0]:.2f}")


def run_system_events(count: int, campaign: Campaign) -> None:
    """What recording `Points Credited` adds to a run's chunks (grants.reward_profiles)."""
    from django.db import transaction

    from segments.models import Profile

    ids = list(Profile.objects.order_by("pk").values_list("pk", flat=True)[:count])
    ids = (ids * (count // max(1, len(ids)) + 1))[:count]
    started = time.perf_counter()
    for start in range(0, count, 5_000):
        with transaction.atomic():
            segment_services.system_events_record(
                events=[grants.system_event(campaign, profile_id=pid, points=10) for pid in ids[start : start + 5_000]]
            )
    took = time.perf_counter() - started
    rate = count / took
    print(f"run_system_events {count} in {took:.2f}s = {rate:.0f} events/s (1,000,000 ≈ {1e6 / rate:.0f}s)")


if __name__ == "__main__":
    main()
