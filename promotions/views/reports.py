"""What the campaign page reports beside its configuration: the chart over time, the distribution's
progress, the outcome report, "why this profile?" and the forecast — each a region HTMX re-renders."""

import datetime
from collections import namedtuple
from decimal import Decimal

from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django_htmx.http import HttpResponseClientRefresh

from accounts import access
from accounts.account import timezone_label
from core import charts
from promotions import forecast, outcomes, selectors, why
from promotions.engine.runs import MSG_CODES_OUT
from promotions.models import Campaign, CampaignRun, Grant

# The chart over time (live and recurring campaigns) -----------------------------------------

CHART_PERIODS = ((selectors.DAY, "Day"), (selectors.WEEK, "Week"), (selectors.MONTH, "Month"))
CHART_COUNTS = [("rewards", "Rewards given", "#4f46e5"), ("profiles", "Profiles rewarded", "#22c1a3")]
CHART_POINTS = [("points", "Points given", "#f59e0b")]
_CHART_LABEL = {selectors.DAY: "%d %b", selectors.WEEK: "%d %b", selectors.MONTH: "%b %Y"}
_CHART_TITLE = {selectors.DAY: "%d %b %Y", selectors.WEEK: "Week of %d %b %Y", selectors.MONTH: "%B %Y"}


def shows_chart(campaign: Campaign) -> bool:
    return campaign.is_live or campaign.delivery == Campaign.Delivery.RECURRING


def chart_context(request, campaign: Campaign) -> dict:
    """Rewards, profiles and points per day / week / month in the account timezone (SPEC 5)."""
    period = request.GET.get("period", selectors.DAY)
    if period not in dict(CHART_PERIODS):
        period = selectors.DAY
    tz = timezone.get_current_timezone()
    buckets = selectors.campaign_grant_series(campaign=campaign, period=period, tz=tz)
    shape = {
        "label": lambda b: f"{b.start:{_CHART_LABEL[period]}}",
        "title": lambda b: f"{b.start:{_CHART_TITLE[period]}}",
    }
    points = campaign.reward_type == Campaign.RewardType.POINTS
    return {
        "chart_period": period,
        "chart_periods": CHART_PERIODS,
        "chart_buckets": buckets,
        "chart_counts": charts.grouped_bars(buckets, series=CHART_COUNTS, **shape),
        "chart_points": charts.grouped_bars(buckets, series=CHART_POINTS, **shape) if points else None,
        "chart_timezone": timezone_label(tz),
    }


# The distribution's progress --------------------------------------------------------------


def _active_run(runs):
    return next((r for r in runs if r.status == CampaignRun.Status.RUNNING), None) or next(
        (r for r in runs if r.status == CampaignRun.Status.PENDING), None
    )


def progress_context(runs) -> dict:
    active = _active_run(runs)
    return {
        "runs": runs,
        "active_run": active,
        # A due run not started yet: its start was asked for at publish (or the sweep's next tick).
        "run_starting": active is not None
        and active.status == CampaignRun.Status.PENDING
        and active.scheduled_for <= timezone.now(),
        "codes_out": any(run.error == MSG_CODES_OUT for run in runs),
        "timezone_label": timezone_label(timezone.get_current_timezone()),
    }


@access.marketer_required
def campaign_progress(request, pk: int):
    """The progress region, polled every 3 s while a run is pending or running.

    When the distribution has ended the region comes back without its poll, and an HTMX poll
    also gets HX-Refresh, so the page shows the final status and stats once.
    """
    campaign = get_object_or_404(Campaign, pk=pk)
    context = {"campaign": campaign, **progress_context(selectors.campaign_runs(campaign=campaign))}
    if request.htmx:  # the stat cards follow the chunks as they commit (out-of-band)
        context["stats"] = selectors.campaign_grant_stats(campaign=campaign)
    template = "promotions/campaign_detail.html#run-progress"
    if request.htmx and context["active_run"] is None:
        # The region (without its poll) comes with the refresh, for a client that swaps it anyway.
        response = HttpResponseClientRefresh()
        response.content = render_to_string(template, context, request=request)
        return response
    return render(request, template, context)


# Outcome report and "why this profile" (issue #19) -------------------------------------------

OUTCOME_SERIES = [("rewarded", "Rewarded group", "#4f46e5"), ("holdout", "Holdout", "#f59e0b")]


class _CurveStep:
    def __init__(self, index: int, rewarded: float, holdout: float):
        self.index, self.rewarded, self.holdout = index, _percent(rewarded), _percent(holdout)


def _percent(rate) -> Decimal:
    return Decimal(str(round((rate or 0) * 100, 2)))


def outcome_context(campaign: Campaign) -> dict:
    """The stored outcome report and its cumulative-conversion chart (nothing without goal or holdout)."""
    if not (campaign.has_goal or campaign.holdout_percent):
        return {"show_outcome": False}
    row = selectors.campaign_outcome(campaign=campaign)
    report = row.report if row else None
    chart = None
    if report and campaign.has_goal:
        curve = report["curve"]
        steps = [_CurveStep(i + 1, curve["rewarded"][i], curve["holdout"][i]) for i in range(len(curve["rewarded"]))]
        total = len(steps)
        chart = charts.grouped_bars(
            steps,
            series=OUTCOME_SERIES,
            label=lambda st: f"{st.index * 100 // total}%",
            title=lambda st: f"By {st.index * 100 // total}% of the window · converted (%)",
        )
    return {
        "show_outcome": True,
        "outcome": row,
        "report": report,
        "outcome_chart": chart,
        "outcome_groups": _outcome_groups(report) if report else [],
        "outcome_figures": _outcome_figures(report) if report and report.get("uplift") else [],
    }


def _pct(rate) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def _pts(value) -> str:
    return f"{value * 100:+.1f}"


def _outcome_groups(report: dict) -> list[dict]:
    rows = []
    for key, label in (("rewarded", "Rewarded group"), ("holdout", "Holdout")):
        g = report["groups"][key]
        rows.append(
            {
                "id": f"outcome-{key}",
                "label": label,
                "profiles": g["profiles"],
                "converted": g["converted"],
                "rate": _pct(g["rate"]),
                "value": g["value"],
            }
        )
    return rows


def _outcome_figures(report: dict) -> list[tuple[str, str, str]]:
    """(id, label, value) rows of the uplift, its interval, the incremental figures and their cost."""
    u = report["uplift"]
    relative = "—"
    if u["relative"] is not None:
        low, high = u["relativeLower"] * 100, u["relativeUpper"] * 100
        relative = f"{u['relative'] * 100:+.1f} % (95 % CI {low:+.1f} % to {high:+.1f} %)"
    cost = u["costPerIncrementalConversion"]
    return [
        (
            "uplift-absolute",
            "Uplift",
            f"{_pts(u['absolute'])} points (95 % CI {_pts(u['lower'])} to {_pts(u['upper'])})",
        ),
        ("uplift-relative", "Relative uplift", relative),
        ("uplift-incremental", "Incremental conversions", f"{u['incrementalConversions']:,.1f}"),
        ("uplift-value", "Incremental goal value", f"{u['incrementalValue']:,.2f}"),
        (
            "uplift-cost",
            "Cost per incremental conversion",
            f"{cost:,.2f} {u['costUnit']}" if cost is not None else "— (no incremental conversions)",
        ),
    ]


def why_context(request, campaign: Campaign) -> dict:
    identity = request.GET.get("identity", "").strip()[:256]
    story = why.profile_story(campaign=campaign, identity=identity) if identity else None
    return {"why_identity": identity, "story": story, "why_missing": bool(identity) and story is None}


@access.marketer_required
def campaign_outcome_refresh(request, pk: int):
    """Compute the outcome report now (the Refresh button); the page shows when it was computed."""
    campaign = get_object_or_404(Campaign.objects.select_related("wallet"), pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    outcomes.outcome_refresh(campaign=campaign)
    if request.htmx:
        context = {"campaign": campaign, **outcome_context(campaign)}
        return render(request, "promotions/campaign_detail.html#outcome-report", context)
    return redirect(campaign.get_absolute_url() + "#outcome-report")


# The forecast (issue #21) ----------------------------------------------------------------

FORECAST = "promotions/_forecast.html"
FORECAST_COUNTS = [("rewards", "Rewards", "#4f46e5")]
FORECAST_POINTS = [("points", "Points", "#f59e0b")]
FORECAST_CODES = [("codes", "Codes", "#22c1a3")]
_Row = namedtuple("_Row", "day rewards points codes")


def forecast_shows(campaign: Campaign) -> bool:
    return campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)


def _forecast_charts(result: dict) -> list[tuple[str, dict]]:
    """(label, geometry): rewards per day, then points (or codes) per day, each on its own axis."""
    rows = [
        _Row(
            day=datetime.date.fromisoformat(d["day"]),
            rewards=d["rewards"],
            points=Decimal(d["points"]),
            codes=d["codes"],
        )
        for d in result.get("per_day") or []
    ]
    if not rows:
        return []
    shape = {"label": lambda r: f"{r.day:%d %b}", "title": lambda r: f"{r.day:%d %b %Y}"}
    points = result.get("reward_type") == Campaign.RewardType.POINTS
    return [
        ("Forecast rewards per day", charts.grouped_bars(rows, series=FORECAST_COUNTS, height=160, **shape)),
        (
            "Forecast points per day" if points else "Forecast codes per day",
            charts.grouped_bars(rows, series=FORECAST_POINTS if points else FORECAST_CODES, height=160, **shape),
        ),
    ]


def forecast_context(campaign: Campaign, job=None) -> dict:
    job = job or forecast.forecast_latest(campaign=campaign)
    result = job.result if job is not None and job.status == job.Status.DONE else {}
    refused = [
        (Grant.Reason(r).label if r in Grant.Reason.values else r, n) for r, n in (result.get("refused") or {}).items()
    ]
    return {
        "forecast_job": job,
        "forecast_result": result,
        "forecast_charts": _forecast_charts(result) if result else [],
        "forecast_refused": refused,
        "forecast_days": job.days if job is not None else forecast.DEFAULT_DAYS,
        "forecast_max_days": forecast.MAX_DAYS,
        "forecast_shows": forecast_shows(campaign),
    }


@access.marketer_required
def campaign_forecast(request, pk: int):
    """The Forecast panel: POST starts a forecast (background task), GET shows the latest one
    (polled every second while it runs)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    job = None
    if request.method == "POST":
        if not forecast_shows(campaign):  # e.g. published from another tab meanwhile
            refusal = (
                f"Only a Draft or Scheduled campaign can be forecast; this one is {campaign.get_status_display()}."
            )
            context = {"campaign": campaign, "forecast_refusal": refusal}
            return render(request, FORECAST, context, status=409)
        try:
            days = int(request.POST.get("days") or forecast.DEFAULT_DAYS)
        except ValueError:
            days = forecast.DEFAULT_DAYS
        job = forecast.forecast_start(campaign=campaign, days=days)
        if not request.htmx:
            return redirect(request.POST.get("next") or campaign.get_absolute_url())
    return render(request, FORECAST, {"campaign": campaign, **forecast_context(campaign, job)})
