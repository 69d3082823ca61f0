"""The outcome report of a campaign with a goal (SPEC 11): conversions of the rewarded group and
the holdout, the uplift with its interval, incremental conversions and their cost.

Set-based: ONE statement reads the campaign's grants and the goal's events and returns, per
group and per twentieth of the window, how many profiles converted (grouped rows, at most
2 × 21); everything else is arithmetic on those counts (promotions.uplift). The result is stored
in CampaignOutcome with the time it was computed: the page reads that row, and it is refreshed
on demand (Refresh on the page) and by the beat sweep `outcomes_refresh_due`.

Definitions (issue #19 leaves them open):
- A profile qualified when the campaign first decided for it: its first grant row's time
  (granted, held out, or turned down by a cap). Conversions are goal events strictly after that,
  up to the window's end; the goal value is the sum of the value property over them.
- The groups are the holdout (profiles recorded "Held out") and every other qualifying profile
  (the rewarded group), including those a budget, cap or empty code pool turned down: the hash
  alone assigns the groups, so comparing them is a fair experiment (intention to treat).
  Leaving the turned-down ones out would compare a group filtered by how early profiles came
  with one that is not.
"""

import datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from promotions import selectors
from promotions import uplift as stats
from promotions.models import Campaign, CampaignOutcome, Grant
from segments import rules as segment_rules
from segments.models import Event

C = Campaign
CURVE_STEPS = 20
REFRESH_EVERY = datetime.timedelta(minutes=15)
# A campaign that ended stops being refreshed once its last qualified profile's window is over
# (plus this margin for late events); a running one is refreshed every REFRESH_EVERY.
LATE_EVENTS = datetime.timedelta(days=1)
SWEEP_BATCH = 50
REPORT_WORK_MEM = "128MB"  # one report at a time per worker: see outcome_counts
_UNIT = {C.GoalWindowUnit.HOURS: datetime.timedelta(hours=1), C.GoalWindowUnit.DAYS: datetime.timedelta(days=1)}

_REPORT_SQL = """
WITH q AS MATERIALIZED (
    SELECT profile_id, bool_or(reason = %s) AS held, min(created_at) AS at
    FROM promotions_grant WHERE campaign_id = %s GROUP BY profile_id
),
bounds AS (SELECT min(at) AS lo, max(at) AS hi FROM q),
conv AS (
    SELECT q.profile_id, min(ev.occurred_at - q.at) AS after, sum(ev.v) AS value
    FROM q
    JOIN ({events}) AS ev ON ev.profile_id = q.profile_id
        AND ev.occurred_at > q.at AND ev.occurred_at <= q.at + %s::interval
    WHERE ev.occurred_at > (SELECT lo FROM bounds) AND ev.occurred_at <= (SELECT hi FROM bounds) + %s::interval
    GROUP BY q.profile_id
)
SELECT q.held,
       CASE WHEN conv.profile_id IS NULL THEN NULL
            ELSE least(%s, greatest(1, ceil(extract(epoch FROM conv.after) / %s * %s)))::int END AS step,
       count(*), COALESCE(sum(conv.value), 0)
FROM q LEFT JOIN conv ON conv.profile_id = q.profile_id
GROUP BY 1, 2
"""


def goal_window(campaign: Campaign) -> datetime.timedelta | None:
    if not campaign.has_goal or campaign.goal_window_unit not in _UNIT:
        return None
    return _UNIT[campaign.goal_window_unit] * campaign.goal_window_value


def goal_events(campaign: Campaign):
    """The goal's events (name and property filters) with `v`, the value property as a number (or 0 / NULL)."""
    condition = Q(name=campaign.goal_event)
    for f in segment_rules.validate_filters(campaign.goal_filters or []):
        condition &= segment_rules.filter_q(f)
    events = Event.objects.filter(condition)
    if campaign.goal_value_property:
        events = events.annotate(v=segment_rules.JsonNumber(campaign.goal_value_property))
    else:
        from django.db.models import DecimalField, Value

        events = events.annotate(v=Value(0, output_field=DecimalField()))
    return events.order_by().values("profile_id", "occurred_at", "v")


def outcome_counts(campaign: Campaign) -> dict:
    """Per group ("rewarded", "holdout"): profiles, converted, value, and converted by twentieth of the window."""
    window = goal_window(campaign)
    groups = {
        g: {"profiles": 0, "converted": 0, "value": 0.0, "steps": [0] * CURVE_STEPS} for g in ("rewarded", "holdout")
    }
    if window is None:
        return groups
    events_sql, events_params = goal_events(campaign).query.sql_with_params()
    seconds = window.total_seconds()
    params = [Grant.Reason.HELD_OUT, campaign.pk, *events_params, window, window, CURVE_STEPS, seconds, CURVE_STEPS]
    with transaction.atomic(), connection.cursor() as cursor:
        # The statement hashes every qualified profile and every goal event in the window (a
        # million of each at SPEC 9 scale): with the default 4 MB it spills them to disk in batches.
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        cursor.execute(_REPORT_SQL.format(events=events_sql), params)
        rows = cursor.fetchall()
    for held, step, count, value in rows:
        group = groups["holdout" if held else "rewarded"]
        group["profiles"] += count
        if step is not None:
            group["converted"] += count
            group["value"] += float(value)
            group["steps"][step - 1] += count
    return groups


def _cumulative(group: dict) -> list[float]:
    total, out = 0, []
    for count in group["steps"]:
        total += count
        out.append(total / group["profiles"] if group["profiles"] else 0.0)
    return out


def outcome_report(campaign: Campaign, *, spent: dict | None = None) -> dict:
    """The figures of the report as JSON-ready values (counts from `outcome_counts`, cost from the rollups)."""
    groups = outcome_counts(campaign)
    spent = spent or selectors.campaign_grant_stats(campaign=campaign)
    rewarded, holdout = groups["rewarded"], groups["holdout"]
    result = stats.uplift(
        converted_rewarded=rewarded["converted"],
        rewarded=rewarded["profiles"],
        converted_holdout=holdout["converted"],
        holdout=holdout["profiles"],
    )
    report = {
        "goal": campaign.goal_event,
        "window": f"{campaign.goal_window_value} {campaign.get_goal_window_unit_display().lower()}"
        if campaign.has_goal
        else "",
        "holdoutPercent": campaign.holdout_percent,
        "groups": {},
        "uplift": None,
        "verdict": stats.VERDICT_EMPTY,
        "curve": {"rewarded": _cumulative(rewarded), "holdout": _cumulative(holdout)},
    }
    for name, g in groups.items():
        report["groups"][name] = {
            "profiles": g["profiles"],
            "converted": g["converted"],
            "rate": g["converted"] / g["profiles"] if g["profiles"] else None,
            "value": round(g["value"], 3),
        }
    if result is None:
        return report
    incremental = result.absolute * rewarded["profiles"]
    value_each = {n: (g["value"] / g["profiles"]) for n, g in groups.items()}
    is_points = campaign.reward_type == C.RewardType.POINTS
    cost_total = float(spent["points_distributed"]) if is_points else float(spent["codes_distributed"])
    report["uplift"] = {
        "absolute": result.absolute,
        "lower": result.lower,
        "upper": result.upper,
        "relative": result.relative,
        "relativeLower": result.relative_lower,
        "relativeUpper": result.relative_upper,
        "significant": result.significant,
        "interval": "Newcombe hybrid score, 95 %",
        "incrementalConversions": round(incremental, 1),
        "incrementalValue": round((value_each["rewarded"] - value_each["holdout"]) * rewarded["profiles"], 3),
        "cost": cost_total,
        "costUnit": "points" if is_points else "codes",
        "costPerIncrementalConversion": round(cost_total / incremental, 2) if incremental >= 0.5 else None,
        "moreProfilesNeeded": result.more_profiles_needed,
    }
    report["verdict"] = result.verdict
    return report


def outcome_refresh(*, campaign: Campaign, now: datetime.datetime | None = None) -> CampaignOutcome:
    """Compute the campaign's outcome report now and store it (one row per campaign)."""
    now = now or timezone.now()
    report = outcome_report(campaign)
    with transaction.atomic():
        outcome, _ = CampaignOutcome.objects.update_or_create(
            campaign=campaign, defaults={"computed_at": now, "report": report}
        )
    return outcome


def outcomes_refresh_due(*, now: datetime.datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """The beat job: refresh the reports of campaigns with a goal whose report is missing or older
    than REFRESH_EVERY, while conversions can still arrive; returns the campaign ids refreshed."""
    now = now or timezone.now()
    stale = Q(outcome__isnull=True) | Q(outcome__computed_at__lt=now - REFRESH_EVERY)
    candidates = (
        Campaign.objects.exclude(goal_event="")
        .filter(goal_window_value__isnull=False)
        .filter(status__in=(C.Status.RUNNING, C.Status.PAUSED, C.Status.COMPLETED, C.Status.STOPPED))
        .filter(stale)
        .select_related("wallet", "outcome")
        .order_by("pk")
    )
    done = []
    # Iterated, not sliced: ended campaigns whose report is final are skipped without a query
    # each, and must not fill a slice and starve the campaigns behind them.
    for campaign in candidates.iterator(chunk_size=200):
        window = goal_window(campaign)
        ended = campaign.status in (C.Status.COMPLETED, C.Status.STOPPED)
        last = getattr(campaign, "outcome", None)  # select_related: None when never computed
        if (
            ended
            and last is not None
            and window is not None
            and last.computed_at > campaign.updated_at + window + LATE_EVENTS
        ):
            continue  # its windows are over and the stored report already saw them
        outcome_refresh(campaign=campaign, now=now)
        done.append(campaign.pk)
        if len(done) >= limit:
            break
    return done
