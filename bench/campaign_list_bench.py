"""campaign_list / campaign_list_queries: the campaign list screen with 10,000 campaigns.

The logic of bench/promotions_bench.py: campaigns created in a transaction that is rolled
back, the list rendered through the Django test client (server time: request to response,
no network) under three filters, median of five after one warm-up. campaign_list is the
slowest filter's median (SPEC 9: ≤ 150 ms); campaign_list_queries is the query count at
10,000 campaigns, which must equal the count at 500 ("a constant number of queries").
This figure does not scale with SMALL: 10,000 campaigns are cheap to create.
"""

import statistics
import time

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.common import Context, Figure, log
from promotions.models import Campaign

FILTERS = ["/campaigns/?status=running", "/campaigns/?type=live_action&sort=-start", "/campaigns/?q=Campaign%2042"]
CAMPAIGNS = 10_000
SMALL_CAMPAIGNS = 500


class _Rollback(Exception):
    pass


def measure(count: int, *, repeat: int = 5) -> dict[str, tuple[float, int]]:
    """url → (median ms, queries) with `count` campaigns; nothing is left behind."""
    results = {}
    statuses = [s.value for s in Campaign.Status]
    kinds = [q.value for q in Campaign.Qualification]
    try:
        with transaction.atomic():
            user = User.objects.create(username=f"bench-list-{count}")
            user.groups.add(Group.objects.get_or_create(name="Marketer")[0])
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
            for url in FILTERS:
                client.get(url)  # warm-up
                timings = []
                for _ in range(repeat):
                    with CaptureQueriesContext(connection) as queries:
                        started = time.perf_counter()
                        response = client.get(url)
                        timings.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise RuntimeError(f"{url} answered {response.status_code}")
                results[url] = (statistics.median(timings), len(queries))
            raise _Rollback
    except _Rollback:
        pass
    return results


def run(ctx: Context):
    small = measure(SMALL_CAMPAIGNS)
    full = measure(CAMPAIGNS)
    for url, (ms, queries) in full.items():
        log(f"{url}: {ms:.1f} ms, {queries} queries ({small[url][1]} at {SMALL_CAMPAIGNS})")
    slowest_url, (slowest_ms, _) = max(full.items(), key=lambda item: item[1][0])
    ctx.note("campaign list at 10,000: " + "; ".join(f"{url} {ms:.1f} ms {q} queries" for url, (ms, q) in full.items()))
    queries = max(q for _, q in full.values())
    constant = all(full[url][1] == small[url][1] for url in FILTERS)
    yield Figure.at_most("campaign_list", slowest_ms, "ms", 150, note=slowest_url)
    yield Figure(
        "campaign_list_queries",
        queries,
        "queries",
        f"={max(q for _, q in small.values())}",
        constant,
        note=f"same count at {SMALL_CAMPAIGNS} and {CAMPAIGNS:,} campaigns" if constant else "count grows",
    )
