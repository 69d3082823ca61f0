"""Campaign detail of a live campaign with N grants: chart series per day / week / month and the page.

    DATABASE_URL=postgres://… .venv/bin/python bench/campaign_chart_bench.py --scale 0.1

Scale 1 = 1,000,000 grants (90 % granted) to 100,000 profiles over the last 90 days, in the
account timezone's buckets. Rows are written set-based (INSERT … SELECT generate_series) in a
transaction that is rolled back. Prints the median server time and query count of each read,
and the time of the same series counted from the grants (the chart's query before its rollup,
issue #18).
"""

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.account import account_tzinfo  # noqa: E402
from promotions import selectors  # noqa: E402
from promotions.models import Campaign  # noqa: E402
from tests.factories import UserFactory  # noqa: E402
from wallets.models import Wallet  # noqa: E402

# Chart reads must stay well inside SPEC 9's page budget at full scale.
TARGET_SECONDS = 1.0


class Rollback(Exception):
    pass


def timed(fn, repeat: int) -> tuple[float, int]:
    times, queries = [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        queries = len(captured.captured_queries)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    grants = max(1000, int(1_000_000 * args.scale))
    profiles = max(100, grants // 10)
    failed = False
    try:
        with transaction.atomic():
            user = UserFactory(username="bench-chart-marketer", groups=["Marketer"])
            wallet = Wallet.objects.create(name="Bench coins")
            campaign = Campaign.objects.create(
                name="Bench live",
                qualification=Campaign.Qualification.LIVE_ACTION,
                status=Campaign.Status.RUNNING,
                reward_type=Campaign.RewardType.POINTS,
                wallet=wallet,
                points_type=Campaign.PointsType.FLAT,
                flat_points=10,
                live_start=Campaign.LiveStart.NOW,
                live_end=Campaign.LiveEnd.NEVER,
                starts_at=timezone.now() - datetime.timedelta(days=90),
                created_by=user,
            )
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(
                    """
                    INSERT INTO segments_profile (identity, properties, first_seen, last_seen, sample_bucket)
                    SELECT 'bench-chart-' || i, '{}'::jsonb, now(), now(), i %% 100
                    FROM generate_series(1, %s) AS i
                    """,
                    [profiles],
                )
                cursor.execute(
                    """
                    INSERT INTO promotions_grant
                        (campaign_id, profile_id, occurrence, run_id, granted, reason, points, code, created_at)
                    SELECT %s, p.id, 'event:' || i, NULL, i %% 10 <> 0,
                           CASE WHEN i %% 10 <> 0 THEN '' ELSE 'Campaign points budget exceeded' END,
                           CASE WHEN i %% 10 <> 0 THEN 10 END, '',
                           now() - (i::float / %s) * interval '90 days'
                    FROM generate_series(1, %s) AS i
                    JOIN segments_profile p ON p.identity = 'bench-chart-' || (1 + i %% %s)
                    """,
                    [campaign.pk, grants, grants, profiles],
                )
                cursor.execute("ANALYZE promotions_grant")
            print(f"seeded {grants:,} grants to {profiles:,} profiles in {time.perf_counter() - started:.1f}s")
            tz = account_tzinfo()
            for period in (selectors.DAY, selectors.WEEK, selectors.MONTH):
                seconds, queries = timed(
                    lambda period=period: selectors.campaign_grant_series(campaign=campaign, period=period, tz=tz),
                    args.repeat,
                )
                verdict = "PASS" if seconds <= TARGET_SECONDS and queries == 1 else "FAIL"
                failed |= verdict == "FAIL"
                print(f"{verdict} chart series per {period}: {seconds * 1000:.0f} ms median, {queries} query")
                # The same window counted from the grants, as the chart did before its rollup (issue #18).
                rows = selectors.campaign_grant_series(campaign=campaign, period=period, tz=tz)
                since = datetime.datetime.combine(rows[0].start, datetime.time.min, tzinfo=tz)
                until = datetime.datetime.combine(
                    selectors._bucket_next(rows[-1].start, period), datetime.time.min, tzinfo=tz
                )
                old, _ = timed(
                    lambda period=period, since=since, until=until: selectors._grant_series_from_grants(
                        campaign=campaign, period=period, tz=tz, since=since, until=until
                    ),
                    args.repeat,
                )
                print(f"     the same from the grants (before the rollup): {old * 1000:.0f} ms median")
            client = Client()
            client.force_login(user)
            for label, url, headers in (
                ("detail page", f"/campaigns/{campaign.pk}/", {}),
                (
                    "chart partial (month)",
                    f"/campaigns/{campaign.pk}/?period=month",
                    {"HX-Request": "true", "HX-Target": "campaign-chart"},
                ),
            ):
                seconds, queries = timed(lambda url=url, headers=headers: client.get(url, headers=headers), args.repeat)
                print(f"     {label}: {seconds * 1000:.0f} ms median, {queries} queries")
            raise Rollback
    except Rollback:
        pass
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
