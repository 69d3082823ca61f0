"""Reads the campaign screens and the API need, with their joins applied: the list, one campaign,
its runs and history, its grants' stats and errors, its chart series (its summary in words: summary.py)."""

import dataclasses
import datetime
from decimal import Decimal

from django.db.models import BigIntegerField, Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from promotions import catalogue
from promotions.models import Campaign, CampaignEvent, CampaignRun, CampaignRunPartition


def rewarded_now() -> Coalesce:
    """ "Profiles rewarded" as of now, as an annotation on campaigns: the campaign's counter (live
    grants and finished runs) plus what the partitions of its running runs counted so far (a
    run adds them to the counter when it ends; campaign_run_running keeps this an index probe)."""
    running = (
        CampaignRunPartition.objects.filter(run__campaign=OuterRef("pk"), run__status=CampaignRun.Status.RUNNING)
        .order_by()
        .values("run__campaign")
        .annotate(total=Sum("rewarded"))
        .values("total")
    )
    return F("rewarded_profiles") + Coalesce(Subquery(running), Value(0), output_field=BigIntegerField())


def campaign_rewarded(campaign: Campaign) -> int:
    """Profiles rewarded as of now (the `rewarded_now` annotation, else one query)."""
    if hasattr(campaign, "rewarded_now"):
        return campaign.rewarded_now
    return Campaign.objects.filter(pk=campaign.pk).values_list(rewarded_now(), flat=True).get()


def campaign_list_queryset() -> QuerySet[Campaign]:
    """Every column of the list in one query (the reward label reads wallet / coupon / voucher list)."""
    return Campaign.objects.select_related("created_by", "wallet", "coupon", "voucher_list").annotate(
        rewarded_now=rewarded_now()
    )


def campaign_get(*, pk: int) -> Campaign:
    return (
        Campaign.objects.select_related(
            "created_by", "wallet", "coupon", "voucher_list", "partner", "segment", "custom_list"
        )
        .annotate(rewarded_now=rewarded_now())
        .get(pk=pk)
    )


def campaign_history(*, campaign: Campaign, limit: int = 100) -> QuerySet[CampaignEvent]:
    return campaign.history.select_related("actor", "api_key").order_by("-at", "-pk")[:limit]


def campaign_runs(*, campaign: Campaign, limit: int = 10) -> list[CampaignRun]:
    """The latest runs, a running one's counters as of now (runs_progress)."""
    runs = list(campaign.runs.order_by("-scheduled_for")[:limit])
    runs_progress(runs)
    return runs


def runs_progress(runs: list[CampaignRun]) -> list[CampaignRun]:
    """Give running runs their counters so far, added up from their partitions (one query).

    A run's partitions count on their own rows while it runs (so its chunks never write a shared
    row); the run row holds the totals once it has ended. `total` grows with profiles that
    joined the audience since it was counted, so the progress never passes 100 %; "Codes ran
    out" shows as soon as one partition hit it.
    """
    from promotions.engine.runs import MSG_CODES_OUT

    running = {run.pk: run for run in runs if run.status == CampaignRun.Status.RUNNING}
    if not running:
        return runs
    sums = (
        CampaignRunPartition.objects.filter(run_id__in=running)
        .order_by()
        .values("run_id")
        .annotate(
            processed=Sum("processed"),
            granted=Sum("granted"),
            rewarded=Sum("rewarded"),
            codes_out=Count("pk", filter=Q(error=MSG_CODES_OUT)),
        )
    )
    for row in sums:
        run = running[row["run_id"]]
        run.processed += row["processed"]
        run.granted += row["granted"]
        run.rewarded += row["rewarded"]
        run.total = max(run.total, run.processed)
        if row["codes_out"]:
            run.error = MSG_CODES_OUT
    return runs


def campaign_exact_audience(campaign: Campaign) -> int | None:
    """The exact audience of a past-behaviour / custom-list campaign now (SPEC 2.4: at publish)."""
    if campaign.is_live:
        return None
    return catalogue.audience_count(campaign)


def campaign_published_audience(campaign: Campaign) -> int | None:
    """The exact audience counted when the campaign was published (its history says it)."""
    event = campaign.history.filter(action=CampaignEvent.Action.PUBLISHED).order_by("-at", "-pk").first()
    return (event.details or {}).get("audience") if event else None


# --- Distribution results (grants) ----------------------------------------------------------

ERROR_EXAMPLES = 3

# A few example profiles per reason: the first ERROR_EXAMPLES rows of each reason in the order of
# grant_not_given (campaign, reason; grants not given only), then heap order: a bounded read,
# however many grants the reason has (ordering them by id would read every one).
_ERROR_EXAMPLES_SQL = """
SELECT r.reason, p.id, p.identity
FROM (
    SELECT campaign_id, reason FROM promotions_grantreasoncount
    WHERE campaign_id = %s AND reason <> 'Held out' GROUP BY 1, 2 HAVING sum(count) > 0
) r
CROSS JOIN LATERAL (
    SELECT g.profile_id FROM promotions_grant g
    WHERE g.campaign_id = r.campaign_id AND NOT g.granted AND g.reason = r.reason
    LIMIT %s
) t
JOIN segments_profile p ON p.id = t.profile_id
ORDER BY r.reason, p.id
"""

_GRANT_STATS_SQL = """
SELECT COALESCE(sum(rewards), 0), COALESCE(sum(first_ever), 0), COALESCE(sum(points), 0), COALESCE(sum(codes), 0),
       (SELECT COALESCE(sum(count), 0) FROM promotions_grantreasoncount
        WHERE campaign_id = %(c)s AND reason <> 'Held out'),
       (SELECT COALESCE(sum(count), 0) FROM promotions_grantreasoncount
        WHERE campaign_id = %(c)s AND reason = 'Held out')
FROM promotions_grantrollup WHERE campaign_id = %(c)s
"""


def campaign_grant_stats(*, campaign: Campaign) -> dict:
    """Rewards given, profiles rewarded, points and codes distributed, grants not given (one query).

    From the rollups the database keeps in each grant's transaction (GrantRollup, summed over
    every zone it was counted in, and GrantReasonCount), not from the grants: the same cost at
    10 rewards and at 10 million.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_GRANT_STATS_SQL, {"c": campaign.pk})
        rewards, profiles, points, codes, not_granted, held_out = cursor.fetchone()
    return {
        "rewards_given": rewards,
        "profiles_rewarded": profiles,
        "points_distributed": points or Decimal(0),  # the page shows 0, not blank
        "codes_distributed": codes,
        "not_granted": not_granted,  # errors only: "Held out" is the holdout group, not an error
        "held_out": held_out,
    }


def campaign_grant_errors(*, campaign: Campaign) -> list[dict]:
    """Per not-granted reason: count (GrantReasonCount) and a few example profiles (two queries)."""
    from django.db import connection
    from django.db.models import Sum

    from promotions.models import Grant, GrantReasonCount

    counts = (
        GrantReasonCount.objects.filter(campaign=campaign)
        .exclude(reason=Grant.Reason.HELD_OUT)
        .values("reason")
        .annotate(count=Sum("count"))
        .filter(count__gt=0)
        .order_by("-count", "reason")
    )
    rows = [{"reason": row["reason"], "count": row["count"], "examples": []} for row in counts]
    if rows:
        by_reason = {row["reason"]: row for row in rows}
        with connection.cursor() as cursor:
            cursor.execute(_ERROR_EXAMPLES_SQL, [campaign.pk, ERROR_EXAMPLES])
            for reason, profile_id, identity in cursor.fetchall():
                by_reason[reason]["examples"].append({"id": profile_id, "identity": identity})
    return rows


def campaign_grants_for_export(*, campaign: Campaign):
    """Every grant of a campaign with its profile, streamed in id order (CSV export)."""
    from promotions.models import Grant

    return (
        Grant.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list("profile__identity", "granted", "reason", "code", "points", "occurrence", "created_at")
    )


def profile_grants(*, profile_id: int, limit: int = 50):
    """A profile's most recent grants with their campaign (one query)."""
    from promotions.models import Grant

    return list(
        Grant.objects.filter(profile_id=profile_id).select_related("campaign").order_by("-created_at", "-pk")[:limit]
    )


def campaign_profile_grants(*, campaign: Campaign, profile_id: int, limit: int = 100):
    """Every reward attempt of the campaign for one profile, newest first (one indexed query)."""
    from promotions.models import Grant

    return list(Grant.objects.filter(campaign=campaign, profile_id=profile_id).order_by("-created_at", "-pk")[:limit])


def campaign_points_buckets(*, campaign: Campaign):
    """The points this campaign credited, by bucket now: promised, active, expired, redeemed (one query)."""
    if campaign.reward_type != Campaign.RewardType.POINTS:
        return None
    from wallets import selectors as wallet_selectors

    return wallet_selectors.campaign_lot_totals(campaign_id=campaign.pk)


def campaign_codes_left(*, campaign: Campaign) -> int | None:
    """Codes left in the campaign's bulk series or voucher list (shared with other campaigns)."""
    if campaign.reward_type == Campaign.RewardType.COUPON and campaign.coupon_id:
        if campaign.coupon.kind != "bulk":
            return None
        return catalogue.coupon_codes_left(campaign.coupon)
    if campaign.reward_type == Campaign.RewardType.VOUCHER and campaign.voucher_list_id:
        return catalogue.voucher_codes_left(campaign.voucher_list)
    return None


def campaign_live_limits(*, campaign: Campaign) -> list[dict]:
    """Budget / campaign limit used and left for a live campaign (one query; [] when it has none)."""
    if not campaign.is_live:
        return []
    from promotions.models import CampaignCounter

    counter = CampaignCounter.objects.filter(pk=campaign.pk).values("points_used", "rewards").first() or {
        "points_used": 0,
        "rewards": 0,
    }
    rows = []
    if campaign.reward_type == Campaign.RewardType.POINTS and campaign.budget_campaign is not None:
        used = counter["points_used"]
        rows.append(
            {
                "label": "Points budget",
                "used": used,
                "limit": campaign.budget_campaign,
                "left": campaign.budget_campaign - used,
            }
        )
    if campaign.reward_type != Campaign.RewardType.POINTS and campaign.max_codes_per_campaign:
        used = counter["rewards"]
        label = "Coupon limit" if campaign.reward_type == Campaign.RewardType.COUPON else "Voucher limit"
        limit = campaign.max_codes_per_campaign
        rows.append({"label": label, "used": used, "limit": limit, "left": max(0, limit - used)})
    for row in rows:
        # Numbers, not text: the page formats them (thousands separators), the API its own way.
        row["percent"] = min(100, int(row["used"] * 100 / row["limit"])) if row["limit"] else 0
    return rows


# --- Chart over time (live and recurring campaigns) -------------------------------------------

DAY, WEEK, MONTH = "day", "week", "month"
CHART_BUCKETS = {DAY: 30, WEEK: 13, MONTH: 12}


@dataclasses.dataclass(frozen=True)
class GrantBucket:
    start: datetime.date  # first local day of the day / week (Monday) / month
    rewards: int
    points: Decimal
    profiles: int


def _bucket_start(day: datetime.date, period: str) -> datetime.date:
    if period == WEEK:
        return day - datetime.timedelta(days=day.weekday())
    if period == MONTH:
        return day.replace(day=1)
    return day


def _bucket_next(start: datetime.date, period: str) -> datetime.date:
    if period == WEEK:
        return start + datetime.timedelta(weeks=1)
    if period == MONTH:
        return (start.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return start + datetime.timedelta(days=1)


def _bucket_back(start: datetime.date, period: str, count: int) -> datetime.date:
    if period == MONTH:
        months = start.year * 12 + start.month - 1 - count
        return datetime.date(months // 12, months % 12 + 1, 1)
    return start - (datetime.timedelta(weeks=count) if period == WEEK else datetime.timedelta(days=count))


def campaign_grant_series(
    *, campaign: Campaign, period: str, tz, today: datetime.date | None = None
) -> list[GrantBucket]:
    """Rewards given, points given and profiles rewarded per local day / week / month; one query.

    Buckets are cut in the account timezone, weeks start on Monday; the window ends with the
    bucket holding `today` and starts at the campaign's start or CHART_BUCKETS[period] buckets
    back, whichever is later. Empty buckets are zero.

    Reads the rollup (GrantRollup: per UTC quarter hour, kept by the database in each grant's
    transaction), never the grants: at most a year of quarter-hour rows per campaign, whatever
    the number of rewards. Quarters whose profile counts were taken in another timezone (the
    account's changed since, and `manage.py grant_rollup_rebuild` has not been run) make this
    window fall back to counting the grants, exactly and slowly, in a second query.
    """
    from django.db.models import Count, DateField, Q, Sum
    from django.db.models.functions import Trunc

    from promotions.models import GrantRollup

    today = today or timezone.localdate(timezone=tz)
    last = _bucket_start(today, period)
    first = _bucket_back(last, period, CHART_BUCKETS[period] - 1)
    began = campaign.starts_at or campaign.published_at or campaign.created_at
    if began is not None:
        first = max(first, min(last, _bucket_start(began.astimezone(tz).date(), period)))
    since = datetime.datetime.combine(first, datetime.time.min, tzinfo=tz)
    until = datetime.datetime.combine(_bucket_next(last, period), datetime.time.min, tzinfo=tz)
    rows = list(
        GrantRollup.objects.filter(campaign=campaign, quarter__gte=since, quarter__lt=until)
        .annotate(bucket=Trunc("quarter", period, output_field=DateField(), tzinfo=tz))
        .values("bucket")
        .annotate(
            rewards=Sum("rewards"),
            points=Sum("points"),
            profiles=Sum(f"first_{period}"),
            other_zone=Count("id", filter=~Q(timezone=getattr(tz, "key", str(tz)))),
        )
        .order_by()
    )
    if any(row["other_zone"] for row in rows):
        rows = _grant_series_from_grants(campaign=campaign, period=period, tz=tz, since=since, until=until)
    table = {row["bucket"]: row for row in rows}
    series, start = [], first
    while start <= last:
        row = table.get(start, {})
        series.append(
            GrantBucket(
                start=start,
                rewards=row.get("rewards", 0),
                points=row.get("points") or Decimal(0),
                profiles=row.get("profiles", 0),
            )
        )
        start = _bucket_next(start, period)
    return series


def _grant_series_from_grants(*, campaign: Campaign, period: str, tz, since, until) -> list[dict]:
    """The chart's counts straight from the grants (O(grants in the window)): the rollup's fallback."""
    from django.db.models import Count, DateField, Sum
    from django.db.models.functions import Trunc

    from promotions.models import Grant

    return list(
        Grant.objects.filter(campaign=campaign, granted=True, created_at__gte=since, created_at__lt=until)
        .annotate(bucket=Trunc("created_at", period, output_field=DateField(), tzinfo=tz))
        .values("bucket")
        .annotate(rewards=Count("id"), points=Sum("points"), profiles=Count("profile_id", distinct=True))
        .order_by()
    )


def campaign_outcome(*, campaign: Campaign):
    """The campaign's last computed outcome report (CampaignOutcome) or None."""
    from promotions.models import CampaignOutcome

    return CampaignOutcome.objects.filter(pk=campaign.pk).first()
