"""Campaign list with N campaigns under three filters: server time and query count (SPEC 9).

    DATABASE_URL=postgres://… .venv/bin/python bench/promotions_bench.py --scale 0.01

Scale 1 = 10,000 campaigns. Creates its rows in a transaction that is rolled back.
"""

import argparse
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

from promotions.models import Campaign  # noqa: E402
from tests.factories import UserFactory  # noqa: E402

FILTERS = ["/campaigns/?status=running", "/campaigns/?type=live_action&sort=-start", "/campaigns/?q=Campaign%2042"]


class Rollback(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count = max(1, int(10_000 * args.scale))
    statuses = [s.value for s in Campaign.Status]
    kinds = [q.value for q in Campaign.Qualification]
    try:
        with transaction.atomic():
            user = UserFactory(username="bench-marketer", groups=["Marketer"])
            Campaign.objects.bulk_create(
                [
                    Campaign(
                        name=f"Campaign {i}",
                        status=statuses[i % len(statuses)],
                        qualification=kinds[i % len(kinds)],
                        created_by=user,
                    )
                    for i in range(count)
                ],
                batch_size=2000,
            )
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE promotions_campaign")
            client = Client()
            client.force_login(user)
            print(f"{count} campaigns")
            for url in FILTERS:
                timings = []
                for _ in range(args.repeat):
                    with CaptureQueriesContext(connection) as queries:
                        started = time.perf_counter()
                        response = client.get(url)
                        timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                print(f"{url:55} median {statistics.median(timings):7.1f} ms  queries {len(queries)}")
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
