"""Wallet bulk credit and lifecycle-job benchmark (SPEC 9: distribution of 1,000,000 ≤ 30 s end
to end, bulk credit aims at ≤ 15 s of it; activation + expiry jobs over 1,000,000 lots ≤ 30 s).

Figures, the machine and load at the time, and the EXPLAIN findings: bench/RESULTS.md (Wallets).

Run against a scratch PostgreSQL database (the ledger is append-only, rows are never deleted):
    createdb -h 127.0.0.1 -U postgres promo_bench_wallets
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/promo_bench_wallets .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/promo_bench_wallets \
        .venv/bin/python bench/wallets_bench.py --profiles 1000000 --distribute
    dropdb -h 127.0.0.1 -U postgres promo_bench_wallets

Prints `name value unit target PASS|FAIL` lines (targets scale linearly with --profiles).
Steps timed: wallet_credit_bulk of N profiles with an activation delay and an expiry (N lots,
N SCHEDULED rows, 2N pending lifecycle steps); the same call again (idempotent: 0 credited);
lots_activate_due over the N lots; lots_expire_due over the N lots. With --distribute, also a
one-time Flat points campaign to the N profiles (a custom list) from publish to Completed
through promotions.engine (dispatch, then run_distribute_chunk until done).
"""

import argparse
import datetime
import os
import platform
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from promotions.models import Campaign  # noqa: E402
from segments.models import SAMPLE_BUCKETS, Profile  # noqa: E402
from wallets import services  # noqa: E402
from wallets.models import Wallet  # noqa: E402

# SPEC 9 targets at 1,000,000: distribution ≤ 30 s end to end (bulk credit aims at ≤ 15 s of
# it), activation and expiry jobs together ≤ 30 s. Scaled linearly for smaller runs.
TARGETS_PER_MILLION = {
    "wallet_credit_bulk": 15.0,
    "wallet_credit_bulk_again": 15.0,
    "lots_activate_due": None,
    "lots_expire_due": None,
    "lifecycle_jobs_total": 30.0,
    "distribute_wallet": 30.0,
}


def report(name, seconds, result, n):
    target = TARGETS_PER_MILLION[name]
    if target is None:
        print(f"{name} {seconds:.2f} s - INFO rows={result}")
        return
    limit = target * max(n, 1) / 1_000_000
    verdict = "PASS" if seconds <= limit else "FAIL"
    print(f"{name} {seconds:.2f} s {limit:.2f} {verdict} rows={result}")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", "--scale", dest="profiles", type=int, default=20_000)
    parser.add_argument("--distribute", action="store_true", help="also time a one-time Flat campaign end to end")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run against PostgreSQL: set DATABASE_URL to a scratch database.")
    n = args.profiles
    tag = uuid.uuid4().hex[:8]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_profile (identity, properties, first_seen, last_seen, sample_bucket) "
            "SELECT %s || g, '{}'::jsonb, now(), now(), g %% %s FROM generate_series(1, %s) g",
            [f"bench-{tag}-", SAMPLE_BUCKETS, n],
        )
        cursor.execute("ANALYZE segments_profile")
    ids = list(Profile.objects.filter(identity__startswith=f"bench-{tag}-").values_list("pk", flat=True))
    wallet = Wallet.objects.create(name=f"Bench {tag}", points_name="Bench", rounding_places=2)
    campaign = Campaign.objects.create(name=f"Bench {tag}")
    now = timezone.now()
    activates = now + datetime.timedelta(seconds=1)
    expires = now + datetime.timedelta(seconds=2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
        settings = {}
        for name in ("shared_buffers", "work_mem", "maintenance_work_mem", "synchronous_commit", "max_wal_size"):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    print(f"# {platform.node()} · {os.cpu_count()} CPUs · {version} · {settings} · {n:,} profiles")
    print("# name value unit target verdict")

    def bulk():
        return len(
            services.wallet_credit_bulk(
                wallet=wallet,
                profile_ids=ids,
                points=Decimal("10.5"),
                campaign=campaign,
                occurrence="bench",
                activates_at=activates,
                expires_at=expires,
            )
        )

    report("wallet_credit_bulk", *timed(bulk), n)
    report("wallet_credit_bulk_again", *timed(bulk), n)
    later = now + datetime.timedelta(seconds=1, milliseconds=500)
    act_s, act_n = timed(lambda: services.lots_activate_due(now=later))
    report("lots_activate_due", act_s, act_n, n)
    exp_s, exp_n = timed(lambda: services.lots_expire_due(now=now + datetime.timedelta(seconds=3)))
    report("lots_expire_due", exp_s, exp_n, n)
    report("lifecycle_jobs_total", act_s + exp_s, act_n + exp_n, n)
    if args.distribute:
        report("distribute_wallet", *timed(lambda: distribute_flat(tag)), n)


def distribute_flat(tag: str) -> int:
    """A one-time Flat points campaign to every bench profile (a custom list), published and
    driven to Completed through promotions.engine: dispatch, then run_distribute_chunk
    until done (in this process, instead of the worker the chunk task would run in)."""
    from promotions import services as promotion_services
    from promotions.engine import runs, sweeps
    from promotions.models import CampaignRun
    from segments.models import CustomList

    wallet = Wallet.objects.create(name=f"Bench flat {tag}", points_name="Bench", expiry_kind="never")
    custom_list = CustomList.objects.create(name=f"Bench {tag}")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_customlistmember (custom_list_id, profile_id) "
            "SELECT %s, id FROM segments_profile WHERE identity LIKE %s",
            [custom_list.pk, f"bench-{tag}-%"],
        )
        CustomList.objects.filter(pk=custom_list.pk).update(size=cursor.rowcount)
        cursor.execute("ANALYZE segments_customlistmember")
    campaign = Campaign.objects.create(
        name=f"Bench flat {tag}",
        qualification=Campaign.Qualification.CUSTOM_LIST,
        audience_source=Campaign.AudienceSource.CUSTOM_LIST,
        custom_list=custom_list,
        reward_type=Campaign.RewardType.POINTS,
        wallet=wallet,
        points_type=Campaign.PointsType.FLAT,
        flat_points=100,
        delivery=Campaign.Delivery.NOW,
        start_complete=True,
        who_complete=True,
        what_complete=True,
        when_complete=True,
    )
    runs.chunk_enqueue = lambda run_id, *chain: None  # this process drives the chunks itself
    promotion_services.campaign_publish(campaign=campaign, actor=None)
    sweeps.runs_dispatch_due()
    run = CampaignRun.objects.get(campaign=campaign)
    while runs.run_distribute_chunk(run_id=run.pk) == runs.MORE:
        pass
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED, campaign.status
    return CampaignRun.objects.get(pk=run.pk).granted


if __name__ == "__main__":
    main()
