"""The campaign chart's rollup (issue #18): kept by PostgreSQL in each grant's transaction."""

import contextlib
import datetime
import random
import re
import threading
import zoneinfo
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from promotions import selectors
from promotions.models import Campaign, Grant, GrantRollup
from tests.promotions.helpers import campaign_live, campaign_past
from tests.segments.factories import ProfileFactory

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")  # the default account timezone (UTC+05:30)
KATHMANDU = zoneinfo.ZoneInfo("Asia/Kathmandu")  # UTC+05:45
UTC = datetime.UTC
TODAY = datetime.date(2026, 11, 30)
GRANT_TABLE = re.compile(r"\bpromotions_grant\b")  # the grants, not promotions_grantrollup


def grant(campaign, profile, at, points=10, *, granted=True, occurrence=None):
    return Grant.objects.create(
        campaign=campaign,
        profile=profile,
        occurrence=occurrence or f"event:{at.timestamp()}:{random.random()}",
        granted=granted,
        reason="" if granted else Grant.Reason.CAMPAIGN_BUDGET,
        points=points if granted else None,
        created_at=at,
    )


def series(campaign, period, tz=KOLKATA):
    rows = selectors.campaign_grant_series(campaign=campaign, period=period, tz=tz, today=TODAY)
    return [(b.start, b.rewards, b.profiles, b.points) for b in rows]


def from_grants(campaign, period, tz=KOLKATA):
    """The same window counted straight from the grants (the pre-rollup query)."""
    rows = selectors.campaign_grant_series(campaign=campaign, period=period, tz=tz, today=TODAY)
    since = datetime.datetime.combine(rows[0].start, datetime.time.min, tzinfo=tz)
    until = datetime.datetime.combine(selectors._bucket_next(rows[-1].start, period), datetime.time.min, tzinfo=tz)
    table = {
        r["bucket"]: r
        for r in selectors._grant_series_from_grants(campaign=campaign, period=period, tz=tz, since=since, until=until)
    }
    return [
        (
            b.start,
            table.get(b.start, {}).get("rewards", 0),
            table.get(b.start, {}).get("profiles", 0),
            table.get(b.start, {}).get("points") or Decimal(0),
        )
        for b in rows
    ]


def rollup_rows(campaign):
    return sorted(
        GrantRollup.objects.filter(campaign=campaign).values_list(
            "quarter", "timezone", "rewards", "points", "first_day", "first_week", "first_month"
        )
    )


def random_history(campaign, *, seed, count=300):
    """Grants over two months at random minutes, created_at in random order, some repeats."""
    rng = random.Random(seed)
    profiles = [ProfileFactory() for _ in range(12)]
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    for _ in range(count):
        at = start + datetime.timedelta(minutes=rng.randrange(60 * 24 * 60))
        grant(campaign, rng.choice(profiles), at, rng.choice([1, 5, 10]), granted=rng.random() > 0.1)


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_chart_from_the_rollup_equals_the_chart_from_the_grants(period):
    campaign = campaign_live(starts_at=datetime.datetime(2026, 9, 1, tzinfo=UTC))
    random_history(campaign, seed=period)
    assert series(campaign, period) == from_grants(campaign, period)
    assert sum(b[1] for b in series(campaign, period)) > 0


@pytest.mark.django_db
def test_the_rollup_the_triggers_keep_equals_a_recount_from_the_grants():
    # The triggers (row by row, created_at out of order) and the backfill's window recount agree.
    campaign = campaign_live(starts_at=datetime.datetime(2026, 9, 1, tzinfo=UTC))
    random_history(campaign, seed=3)
    kept = rollup_rows(campaign)
    call_command("grant_rollup_rebuild", campaign=[campaign.pk])
    assert rollup_rows(campaign) == kept and kept


@pytest.mark.django_db
def test_the_chart_reads_only_the_rollup_never_the_grants(django_assert_num_queries):
    campaign = campaign_live(starts_at=datetime.datetime(2026, 10, 1, tzinfo=UTC))
    random_history(campaign, seed=4, count=50)
    for period in ("day", "week", "month"):
        with CaptureQueriesContext(connection) as queries:
            selectors.campaign_grant_series(campaign=campaign, period=period, tz=KOLKATA, today=TODAY)
        assert len(queries) == 1
        assert '"promotions_grantrollup"' in queries[0]["sql"]
        assert not GRANT_TABLE.search(queries[0]["sql"])


@pytest.mark.django_db
def test_a_bulk_insert_with_row_triggers_skipped_is_counted():
    # The distribution's grant insert may run with session_replication_role = replica
    # (core/db.py); the rollup triggers are ENABLE ALWAYS, so they still fire.
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    profiles = [ProfileFactory() for _ in range(3)]
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            """
            INSERT INTO promotions_grant
                (campaign_id, profile_id, occurrence, granted, reason, points, code, created_at)
            SELECT %s, p, 'run:1', true, '', 7, '', %s FROM unnest(%s::bigint[]) AS p
            """,
            [campaign.pk, at, [p.pk for p in profiles]],
        )
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert series(campaign, "day")[-2] == (datetime.date(2026, 11, 29), 3, 3, Decimal(21))


@pytest.mark.django_db
def test_quarters_regroup_exactly_in_a_45_minute_zone_after_a_rebuild():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    profile = ProfileFactory()
    grant(campaign, profile, datetime.datetime(2026, 11, 28, 18, 14, tzinfo=UTC))  # 23:59 in Kathmandu
    grant(campaign, profile, datetime.datetime(2026, 11, 28, 18, 15, tzinfo=UTC))  # 00:00 on the 29th
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kathmandu"})
    # Counted in Kolkata: the profiles fall back to the grants (two queries), still exact.
    with CaptureQueriesContext(connection) as queries:
        before = series(campaign, "day", tz=KATHMANDU)
    assert len(queries) == 2
    assert before[-3:-1] == [
        (datetime.date(2026, 11, 28), 1, 1, Decimal(10)),
        (datetime.date(2026, 11, 29), 1, 1, Decimal(10)),
    ]
    call_command("grant_rollup_rebuild")
    with CaptureQueriesContext(connection) as queries:
        assert series(campaign, "day", tz=KATHMANDU) == before
    assert len(queries) == 1


@pytest.mark.django_db
def test_deleting_grants_recounts_their_campaign():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    keep, gone = ProfileFactory(), ProfileFactory()
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    grant(campaign, keep, at, 10)
    grant(campaign, gone, at, 20)
    grant(campaign, gone, at + datetime.timedelta(hours=1), 30)
    Grant.objects.filter(profile=gone).delete()
    assert series(campaign, "day")[-2] == (datetime.date(2026, 11, 29), 1, 1, Decimal(10))
    assert series(campaign, "day") == from_grants(campaign, "day")


@pytest.mark.django_db
def test_a_one_time_campaign_counts_each_grant_as_a_first():
    campaign = campaign_past()
    assert campaign.delivery != Campaign.Delivery.RECURRING and not campaign.is_live
    grant(campaign, ProfileFactory(), datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC), 5, occurrence="run:1")
    (row,) = GrantRollup.objects.filter(campaign=campaign)
    assert (row.rewards, row.points, row.first_day, row.first_week, row.first_month) == (1, 5, 1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_concurrent_transactions_are_both_counted():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    profiles = [ProfileFactory() for _ in range(8)]
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # every grant in one quarter: one hot row
    started, inserted = threading.Barrier(2), threading.Barrier(2)
    errors = []

    def work(mine):
        try:
            with transaction.atomic():
                Campaign.objects.filter(pk=campaign.pk).exists()  # both transactions are open
                started.wait(timeout=10)
                for profile in mine:
                    grant(campaign, profile, at, 10)
                # Both hold their grants uncommitted here, unless the second's upsert waits on
                # the first's rollup row lock: then the first commits after the timeout.
                with contextlib.suppress(threading.BrokenBarrierError):
                    inserted.wait(timeout=2)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(profiles[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert series(campaign, "day")[-2] == (datetime.date(2026, 11, 29), 8, 8, Decimal(80))
    rows = list(GrantRollup.objects.filter(campaign=campaign).values_list("rewards", flat=True))
    assert sum(rows) == 8 and len(rows) <= 2  # one row per shard the two transactions fell in


# --- the detail page's stats and errors read the rollups too ---------------------------------


def stats_from_grants(campaign):
    from django.db.models import Count, Q, Sum

    granted = Q(granted=True)
    stats = Grant.objects.filter(campaign=campaign).aggregate(
        rewards_given=Count("id", filter=granted),
        profiles_rewarded=Count("profile_id", filter=granted, distinct=True),
        points_distributed=Sum("points", filter=granted),
        codes_distributed=Count("id", filter=granted & ~Q(code="")),
        not_granted=Count("id", filter=~granted & ~Q(reason=Grant.Reason.HELD_OUT)),
        held_out=Count("id", filter=Q(reason=Grant.Reason.HELD_OUT)),
    )
    return {**stats, "points_distributed": stats["points_distributed"] or 0}


@pytest.mark.django_db
def test_stats_from_the_rollup_equal_the_stats_from_the_grants_and_never_read_them():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 9, 1, tzinfo=UTC))
    random_history(campaign, seed=5)
    Grant.objects.filter(campaign=campaign, granted=True, pk__in=Grant.objects.order_by("pk").values("pk")[:7]).update(
        code="CODE"
    )  # an UPDATE recounts the campaign
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kathmandu"})
    grant(campaign, ProfileFactory(), datetime.datetime(2026, 11, 29, tzinfo=UTC), 3)  # counted in another zone
    with CaptureQueriesContext(connection) as queries:
        stats = selectors.campaign_grant_stats(campaign=campaign)
    assert stats == stats_from_grants(campaign)
    assert stats["codes_distributed"] == 7 and stats["not_granted"] > 0
    assert len(queries) == 1 and not GRANT_TABLE.search(queries[0]["sql"])
    assert "FROM promotions_grantrollup" in queries[0]["sql"]


@pytest.mark.django_db
def test_errors_count_each_reason_from_the_rollup_with_a_few_examples():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    losers = [ProfileFactory() for _ in range(5)]
    for profile in losers:
        grant(campaign, profile, at, granted=False)
    Grant.objects.create(
        campaign=campaign, profile=losers[0], occurrence="x", granted=False, reason=Grant.Reason.INACTIVE_WALLET
    )
    grant(campaign, ProfileFactory(), at)
    with CaptureQueriesContext(connection) as queries:
        errors = selectors.campaign_grant_errors(campaign=campaign)
    assert [(e["reason"], e["count"]) for e in errors] == [
        (Grant.Reason.CAMPAIGN_BUDGET, 5),
        (Grant.Reason.INACTIVE_WALLET, 1),
    ]
    assert len(errors[0]["examples"]) == selectors.ERROR_EXAMPLES
    assert {e["id"] for e in errors[0]["examples"]} <= {p.pk for p in losers}
    assert errors[1]["examples"] == [{"id": losers[0].pk, "identity": losers[0].identity}]
    # The counts read only the rollup; the examples (second query) read a few grants per reason.
    assert "promotions_grantreasoncount" in queries[0]["sql"] and not GRANT_TABLE.search(queries[0]["sql"])


@pytest.mark.django_db
def test_an_update_of_an_uncounted_column_recounts_nothing_and_a_counted_one_recounts():
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    grant(campaign, ProfileFactory(), at, 10)
    GrantRollup.objects.filter(campaign=campaign).update(rewards=99)  # a marker a recount would undo
    Grant.objects.filter(campaign=campaign).update(occurrence="event:renamed")
    assert GrantRollup.objects.get(campaign=campaign).rewards == 99
    Grant.objects.filter(campaign=campaign).update(points=12)
    row = GrantRollup.objects.get(campaign=campaign)
    assert (row.rewards, row.points) == (1, 12)


@pytest.mark.django_db(transaction=True)
def test_concurrent_transactions_on_different_shards_do_not_wait_for_each_other():
    # An open transaction has rewarded the campaign in this quarter and holds its rollup row
    # locked; another transaction whose txid falls in another shard inserts without waiting.
    campaign = campaign_live(starts_at=datetime.datetime(2026, 11, 1, tzinfo=UTC))
    first, second = ProfileFactory(), ProfileFactory()
    at = datetime.datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    inserted, done = threading.Event(), threading.Event()
    held, errors = [], []

    def hold():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT txid_current() % 4")
                    held.append(cursor.fetchone()[0])
                grant(campaign, first, at)
                inserted.set()
                done.wait(timeout=10)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inserted.wait(timeout=10)
        for _ in range(8):  # each transaction takes a new txid: one soon falls in another shard
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT txid_current() % 4")
                if cursor.fetchone()[0] == held[0]:
                    continue
                cursor.execute("SET LOCAL lock_timeout = '2s'")
                grant(campaign, second, at)  # LockNotAvailable after 2 s if it waited
                break
        else:
            pytest.fail("no transaction fell in another shard")
    finally:
        done.set()
        holder.join()
    assert errors == []
    assert sum(GrantRollup.objects.filter(campaign=campaign).values_list("rewards", flat=True)) == 2
    assert series(campaign, "day")[-2] == (datetime.date(2026, 11, 29), 2, 2, Decimal(20))
