"""The outcome report of a campaign with a goal (SPEC 11): conversions of the rewarded group and
the holdout, the uplift with its interval, incremental conversions and their cost.

Set-based: ONE statement (after the first and last grant time) reads the grants and the goal's events and returns, per
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

# The qualified profiles: each one's group and the time the campaign first decided for it. A
# campaign with one occurrence (a one-time run) has one grant row per profile, so no grouping; any
# other groups by profile in the order of grant_once_per_occurrence (campaign, profile, …), which a
# million groups stream through instead of filling a hash table (issue #19 bench: 1.4 s → 0.7 s).
_QUALIFIED_ONE = "SELECT profile_id, reason = %s AS held, created_at AS at FROM promotions_grant WHERE campaign_id = %s"
_QUALIFIED_MANY = (
    "SELECT profile_id, bool_or(reason = %s) AS held, min(created_at) AS at "
    "FROM promotions_grant WHERE campaign_id = %s GROUP BY profile_id"
)
# Two parts, each planned on its own (no CTE, so PostgreSQL may run them in parallel): the converted
# profiles per group and twentieth of the window (step 1..20), and every qualified profile per group
# (step NULL). The goal events are bounded by the first and last qualification (plus the window),
# passed as values so the planner sees how many events that is.
_REPORT_SQL = """
SELECT held, least(%s, greatest(1, ceil(extract(epoch FROM after) / %s * %s)))::int AS step,
       count(*), COALESCE(sum(value), 0)
FROM (
    SELECT q.held, min(ev.occurred_at - q.at) AS after, sum(ev.v) AS value
    FROM ({qualified}) AS q
    JOIN ({events}) AS ev ON ev.profile_id = q.profile_id
        AND ev.occurred_at > q.at AND ev.occurred_at <= q.at + %s::interval
    WHERE ev.occurred_at > %s AND ev.occurred_at <= %s
    GROUP BY q.profile_id, q.held
) AS converted
GROUP BY 1, 2
UNION ALL
SELECT held, NULL, count(*), 0 FROM ({qualified}) AS q GROUP BY 1
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
    one_occurrence = not campaign.is_live and campaign.runs.count() <= 1
    qualified = _QUALIFIED_ONE if one_occurrence else _QUALIFIED_MANY
    qualified_params = [Grant.Reason.HELD_OUT, campaign.pk]
    seconds = window.total_seconds()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(created_at), max(created_at) FROM promotions_grant WHERE campaign_id = %s", [campaign.pk]
        )
        first, last = cursor.fetchone()
        if first is None:
            return groups
        # The statement hashes every qualified profile (a million at SPEC 9 scale): with the
        # default 4 MB it spills them to disk in batches.
        cursor.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        if not one_occurrence:
            cursor.execute("SET LOCAL enable_hashagg = off")  # group by profile along the index
        params = [
            *(CURVE_STEPS, seconds, CURVE_STEPS),
            *qualified_params,
            *events_params,
            *(window, first, last + window),
            *qualified_params,
        ]
        cursor.execute(_REPORT_SQL.format(qualified=qualified, events=events_sql), params)
        rows = cursor.fetchall()
    for held, step, count, value in rows:
        group = groups["holdout" if held else "rewarded"]
        if step is None:
            group["profiles"] += count
        else:
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
