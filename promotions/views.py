import csv
import datetime
from collections import namedtuple
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone

from config import access, charts
from config.account import timezone_label
from promotions import forecast, outcomes, selectors, services, why
from promotions import forms as section_forms
from promotions.engine.runs import MSG_CODES_OUT
from promotions.filters import CampaignFilter
from promotions.models import Campaign, CampaignRun, Grant

BUILDER = "promotions/campaign_builder.html"
_Row = namedtuple("_Row", "day rewards points codes")
SECTIONS = (*Campaign.SECTIONS, "publish")
PAGE_SIZES = (25, 50, 100)
CODES_OUT_REASONS = (Grant.Reason.BULK_CODES_EXHAUSTED, Grant.Reason.VOUCHER_CODES_EXHAUSTED)
ACTION_LABELS = {
    "edit": "Edit",
    "publish": "Publish",
    "pause": "Pause",
    "resume": "Resume",
    "stop": "Stop",
    "duplicate": "Duplicate",
    "archive": "Archive",
}


# The builder ---------------------------------------------------------------------------


def _section_url(campaign: Campaign, section: str) -> str:
    if campaign.pk is None:
        return reverse("promotions:campaign_new_start")
    return reverse("promotions:campaign_section", args=[campaign.pk, section])


def _first_incomplete(campaign: Campaign) -> str:
    return next((s for s in Campaign.SECTIONS if not getattr(campaign, f"{s}_complete")), "publish")


def _builder_context(campaign: Campaign, *, open_section: str | None = None, form=None, error: str = "") -> dict:
    reachable = SECTIONS[: SECTIONS.index(_first_incomplete(campaign)) + 1]
    if form is not None:
        open_section = form.section
    if open_section not in reachable:
        open_section = reachable[-1]
    if form is None and open_section in section_forms.SECTION_FORMS:
        form_class = section_forms.SECTION_FORMS[open_section]
        initial = form_class.data_from(campaign) if campaign.pk else {"behavior": "past"}
        form = form_class(campaign=campaign, initial=initial)
    sections = {}
    for name in SECTIONS:
        complete = campaign.all_sections_complete if name == "publish" else getattr(campaign, f"{name}_complete")
        state = "open" if name == open_section else ("complete" if complete else "locked")
        sections[name] = {
            "state": state,
            "url": _section_url(campaign, name) if name != "publish" else "",
            "edit_url": (reverse("promotions:campaign_builder", args=[campaign.pk]) + f"?section={name}")
            if campaign.pk
            else "",
            "can_edit": campaign.pk is not None and name in reachable and state != "open",
        }
    notes = {}
    if form is not None and form.section == "what":
        notes = form.compute_notes()
    who_estimate = form.estimate() if form is not None and form.section == "who" else None
    tz = timezone.get_current_timezone()
    summary = selectors.campaign_summary(campaign) if campaign.pk else {}
    # The exact count, once everything is filled in and the marketer is about to publish (SPEC 2.4).
    exact_audience = None
    if open_section == "publish" and campaign.pk and campaign.all_sections_complete:
        exact_audience = selectors.campaign_exact_audience(campaign)
    titles = {"start": "Start here", "who": "Who", "what": "What", "when": "When"}
    return {
        "publish_cards": [(name, titles[name], summary.get(name, [])) for name in Campaign.SECTIONS],
        "campaign": campaign,
        "sections": sections,
        "form": form,
        "notes": notes,
        "who_estimate": who_estimate,
        "exact_audience": exact_audience,
        "error": error,
        "summary": summary,
        "timezone_label": timezone_label(tz),
        "publish_url": reverse("promotions:campaign_publish", args=[campaign.pk]) if campaign.pk else "",
        **(_forecast_context(campaign) if open_section == "publish" and campaign.pk else {}),
    }


def _render_builder(request, campaign, *, partial: str | None = None, status: int = 200, **kwargs):
    template = BUILDER + (f"#{partial}" if partial and request.htmx else "")
    return render(request, template, _builder_context(campaign, **kwargs), status=status)


@access.marketer_required
def campaign_new(request):
    return _render_builder(request, Campaign(qualification=Campaign.Qualification.PAST_BEHAVIOR))


@access.marketer_required
def campaign_builder(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    if not campaign.is_editable:
        messages.error(request, services.MSG_NOT_EDITABLE.format(status=campaign.get_status_display()))
        return redirect(campaign)
    return _render_builder(request, campaign, open_section=request.GET.get("section"))


def _refresh_initial(request, section: str) -> dict:
    """What the screen shows after a choice changed: the posted values, rows added or removed."""
    initial = section_forms.querydict_as_initial(request.POST)
    refresh = request.GET.get("refresh") or request.POST.get("_refresh", "")
    for counter, prefix in (("trigger_count", "trigger"), ("metadata_count", "metadata")):
        try:
            count = int(initial.get(counter) or 1)
        except ValueError:
            count = 1
        if refresh == f"add_{prefix}":
            initial[counter] = str(count + 1)
        elif refresh == f"remove_{prefix}":
            initial[counter] = str(max(1, count - 1))
    section_forms.refresh_trigger_filters(initial, refresh)
    section_forms.refresh_goal_filters(initial, refresh)
    return initial


# A value that only changes a note beside the fields re-renders just that note, never the section:
# a section re-render would put back the values posted with it, dropping what was typed meanwhile.
REGION_TEMPLATES = {
    ("what", "random-expectation"): "promotions/_section_what.html#random-expectation",
    ("what", "what-inventory"): "promotions/_section_what.html#what-inventory",
}


def _section_post(request, campaign: Campaign, section: str):
    form_class = section_forms.SECTION_FORMS[section]
    partial = f"section-{section}"
    region = REGION_TEMPLATES.get((section, request.GET.get("refresh", "")))
    if region and request.htmx:
        form = form_class(campaign=campaign, initial=_refresh_initial(request, section))
        return render(request, region, _builder_context(campaign, form=form))
    if request.GET.get("refresh") or request.POST.get("_refresh"):
        form = form_class(campaign=campaign, initial=_refresh_initial(request, section))
        return _render_builder(request, campaign, partial=partial, form=form)
    form = form_class(request.POST, campaign=campaign)
    if not form.is_valid():
        return _render_builder(request, campaign, partial=partial, form=form, status=200 if request.htmx else 400)
    try:
        if campaign.pk is None:
            campaign = services.campaign_create(values=form.values(), actor=request.user)
        else:
            campaign = services.campaign_section_save(
                campaign=campaign, section=section, values=form.values(), actor=request.user
            )
    except services.CampaignError as exc:
        return _render_builder(
            request, campaign, partial=partial, form=form, error=str(exc), status=200 if request.htmx else 409
        )
    builder_url = reverse("promotions:campaign_builder", args=[campaign.pk])
    if not request.htmx:
        return redirect(builder_url)
    response = _render_builder(request, campaign, partial="builder")
    response["HX-Retarget"] = "#builder"
    response["HX-Reswap"] = "outerHTML"
    response["HX-Push-Url"] = builder_url
    return response


@access.marketer_required
def campaign_new_start(request):
    campaign = Campaign(qualification=Campaign.Qualification.PAST_BEHAVIOR)
    if request.method != "POST":
        return _render_builder(request, campaign)
    return _section_post(request, campaign, "start")


@access.marketer_required
def campaign_section(request, pk: int, section: str):
    campaign = get_object_or_404(Campaign, pk=pk)
    if section not in section_forms.SECTION_FORMS and section != "publish":
        raise Http404("No such section.")
    if not campaign.is_editable:
        messages.error(request, services.MSG_NOT_EDITABLE.format(status=campaign.get_status_display()))
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = campaign.get_absolute_url()
            return response
        return redirect(campaign)
    if request.method == "POST" and section != "publish":
        return _section_post(request, campaign, section)
    # GET: open that section (the Edit links).
    if not request.htmx:
        return redirect(reverse("promotions:campaign_builder", args=[pk]) + f"?section={section}")
    return _render_builder(request, campaign, partial="builder", open_section=section)


@access.marketer_required
def campaign_publish(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        campaign = services.campaign_publish(campaign=campaign, actor=request.user)
    except services.CampaignError as exc:
        messages.error(request, str(exc))
        target = (
            reverse("promotions:campaign_builder", args=[pk]) if campaign.is_editable else campaign.get_absolute_url()
        )
        return _redirect(request, target)
    message = f"“{campaign.name}” is {campaign.get_status_display()}."
    audience = selectors.campaign_published_audience(campaign)
    if audience is not None:
        message += f" Exact audience at publish: {audience:,} profile{pluralize(audience)}."
    messages.success(request, message)
    return _redirect(request, campaign.get_absolute_url())


def _redirect(request, url: str):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# Actions --------------------------------------------------------------------------------


@access.marketer_required
def campaign_action(request, pk: int, action: str):
    campaign = get_object_or_404(Campaign, pk=pk)
    if action not in ("pause", "resume", "stop", "archive", "duplicate"):
        raise Http404("No such action.")
    if request.method == "GET" and action == "stop":
        allowed = campaign.status in services.TRANSITIONS["stop"]
        return render(request, "promotions/campaign_stop_confirm.html", {"campaign": campaign, "allowed": allowed})
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if action == "stop" and request.POST.get("confirm") != "yes":
        messages.error(request, "Confirm that you want to stop the campaign.")
        return _redirect(request, reverse("promotions:campaign_action", args=[pk, "stop"]))
    try:
        result = services.ACTIONS[action](campaign=campaign, actor=request.user)
    except services.CampaignError as exc:
        messages.error(request, str(exc))
        return _redirect(request, request.POST.get("next") or campaign.get_absolute_url())
    if action == "duplicate":
        messages.success(request, f"Created “{result.name}” as a Draft.")
        return _redirect(request, reverse("promotions:campaign_builder", args=[result.pk]))
    messages.success(request, f"“{result.name}” is {result.get_status_display()}.")
    return _redirect(request, _safe_next(request) or result.get_absolute_url())


def _safe_next(request) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/campaigns/") else ""


# List and detail -------------------------------------------------------------------------


def page_size(raw: str) -> int:
    """`per_page` clamped to the sizes the select offers: the smallest offered size that shows
    at least as many rows, at most the largest; anything not a whole number, the default."""
    try:
        wanted = int(str(raw).strip())
    except ValueError:
        return PAGE_SIZES[0]
    return next((size for size in PAGE_SIZES if size >= wanted), PAGE_SIZES[-1])


@access.marketer_required
def campaign_list(request):
    filterset = CampaignFilter(request.GET, queryset=selectors.campaign_list_queryset(), request=request)
    per_page = page_size(request.GET.get("per_page", ""))
    page = Paginator(filterset.qs, per_page).get_page(request.GET.get("page"))
    rows = [(c, [(a, ACTION_LABELS[a]) for a in services.campaign_actions(c)]) for c in page.object_list]
    context = {
        "filter": filterset,
        "page_obj": page,
        "rows": rows,
        "per_page": per_page,
        "page_sizes": PAGE_SIZES,
        "sort": request.GET.get("sort", ""),
        "filtered": any(v for k, v in request.GET.items() if k not in ("page", "sort", "per_page")),
    }
    template = "promotions/campaign_list.html"
    if request.htmx and request.headers.get("HX-Target") == "campaign-table":
        template += "#campaign-table"
    return render(request, template, context)


CHART_PERIODS = ((selectors.DAY, "Day"), (selectors.WEEK, "Week"), (selectors.MONTH, "Month"))
CHART_COUNTS = [("rewards", "Rewards given", "#4f46e5"), ("profiles", "Profiles rewarded", "#22c1a3")]
CHART_POINTS = [("points", "Points given", "#f59e0b")]
_CHART_LABEL = {selectors.DAY: "%d %b", selectors.WEEK: "%d %b", selectors.MONTH: "%b %Y"}
_CHART_TITLE = {selectors.DAY: "%d %b %Y", selectors.WEEK: "Week of %d %b %Y", selectors.MONTH: "%B %Y"}


def _shows_chart(campaign: Campaign) -> bool:
    return campaign.is_live or campaign.delivery == Campaign.Delivery.RECURRING


def _chart_context(request, campaign: Campaign) -> dict:
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


@access.marketer_required
def campaign_detail(request, pk: int):
    try:
        campaign = selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist as exc:
        raise Http404("No such campaign.") from exc
    if request.htmx and request.headers.get("HX-Target") == "campaign-chart" and _shows_chart(campaign):
        context = {"campaign": campaign, **_chart_context(request, campaign)}
        return render(request, "promotions/campaign_detail.html#campaign-chart", context)
    if request.htmx and request.headers.get("HX-Target") == "profile-why":
        return render(request, "promotions/_profile_why.html#profile-why", _why_context(request, campaign))
    runs = selectors.campaign_runs(campaign=campaign)
    context = {
        **_outcome_context(campaign),
        **_why_context(request, campaign),
        "campaign": campaign,
        "show_chart": _shows_chart(campaign),
        **_progress_context(runs),
        "summary": selectors.campaign_summary(campaign),
        "published_audience": selectors.campaign_published_audience(campaign),
        "actions": [(a, ACTION_LABELS[a]) for a in services.campaign_actions(campaign)],
        "history": [
            (event, _history_note(event.details or {})) for event in selectors.campaign_history(campaign=campaign)
        ],
        "granted_total": sum(r.granted for r in runs),
        "stats": selectors.campaign_grant_stats(campaign=campaign),
        "live_limits": selectors.campaign_live_limits(campaign=campaign),
        "errors": selectors.campaign_grant_errors(campaign=campaign),
        "points_buckets": selectors.campaign_points_buckets(campaign=campaign),
        "codes_left": selectors.campaign_codes_left(campaign=campaign),
        "timezone_label": timezone_label(timezone.get_current_timezone()),
    }
    # Live campaigns have no runs: their grants say the codes ran out.
    context["codes_out"] = context["codes_out"] or any(e["reason"] in CODES_OUT_REASONS for e in context["errors"])
    if context["show_chart"]:
        context.update(_chart_context(request, campaign))
    if _forecast_shows(campaign):
        context.update(_forecast_context(campaign))
    return render(request, "promotions/campaign_detail.html", context)


# Outcome report and "why this profile" (issue #19) -------------------------------------------

OUTCOME_SERIES = [("rewarded", "Rewarded group", "#4f46e5"), ("holdout", "Holdout", "#f59e0b")]


class _CurveStep:
    def __init__(self, index: int, rewarded: float, holdout: float):
        self.index, self.rewarded, self.holdout = index, _percent(rewarded), _percent(holdout)


def _percent(rate) -> Decimal:
    return Decimal(str(round((rate or 0) * 100, 2)))


def _outcome_context(campaign: Campaign) -> dict:
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


def _why_context(request, campaign: Campaign) -> dict:
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
        context = {"campaign": campaign, **_outcome_context(campaign)}
        return render(request, "promotions/_outcome_report.html#outcome-report", context)
    return redirect(campaign.get_absolute_url() + "#outcome-report")


def _history_note(details: dict) -> str:
    """What a history row adds to its action. Read in Python: in a template `details.copy`
    falls back to the dict's own copy() method when the key is absent."""
    note = f": {details['section']}" if details.get("section") else ""
    if details.get("copy"):
        note += f" (copy #{details['copy']})"
    if details.get("duplicated_from"):
        note += f" (from #{details['duplicated_from']})"
    return note


def _active_run(runs):
    return next((r for r in runs if r.status == CampaignRun.Status.RUNNING), None) or next(
        (r for r in runs if r.status == CampaignRun.Status.PENDING), None
    )


def _progress_context(runs) -> dict:
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
    context = {"campaign": campaign, **_progress_context(selectors.campaign_runs(campaign=campaign))}
    if request.htmx:  # the stat cards follow the chunks as they commit (out-of-band)
        context["stats"] = selectors.campaign_grant_stats(campaign=campaign)
    response = render(request, "promotions/campaign_detail.html#run-progress", context)
    if request.htmx and context["active_run"] is None:
        response["HX-Refresh"] = "true"
    return response


class _Echo:
    def write(self, value):
        return value


@access.marketer_required
def campaign_grants_csv(request, pk: int):
    """Every grant of the campaign as CSV (profile, outcome, reason, code, points, occurrence, time); formula-safe."""
    from config.csv_safety import csv_safe

    campaign = get_object_or_404(Campaign, pk=pk)
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(["profile", "outcome", "reason", "code", "points", "occurrence", "time"])
        for identity, granted, reason, code, points, occurrence, created_at in selectors.campaign_grants_for_export(
            campaign=campaign
        ).iterator(chunk_size=5000):
            yield writer.writerow(
                [
                    csv_safe(identity),
                    "granted" if granted else "not granted",
                    reason,
                    csv_safe(code),
                    "" if points is None else f"{points.normalize():f}",
                    occurrence,
                    timezone.localtime(created_at).isoformat(),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-grants.csv"'
    return response


# The forecast (issue #21) ----------------------------------------------------------------

FORECAST = "promotions/_forecast.html"
FORECAST_COUNTS = [("rewards", "Rewards", "#4f46e5")]
FORECAST_POINTS = [("points", "Points", "#f59e0b")]
FORECAST_CODES = [("codes", "Codes", "#22c1a3")]


def _forecast_shows(campaign: Campaign) -> bool:
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


def _forecast_context(campaign: Campaign, job=None) -> dict:
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
        "forecast_shows": _forecast_shows(campaign),
    }


@access.marketer_required
def campaign_forecast(request, pk: int):
    """The Forecast panel: POST starts a forecast (background task), GET shows the latest one
    (polled every second while it runs)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    job = None
    if request.method == "POST":
        if not _forecast_shows(campaign):
            return HttpResponse("Only a Draft or Scheduled campaign can be forecast.", status=409)
        try:
            days = int(request.POST.get("days") or forecast.DEFAULT_DAYS)
        except ValueError:
            days = forecast.DEFAULT_DAYS
        job = forecast.forecast_start(campaign=campaign, days=days)
        if not request.htmx:
            return redirect(request.POST.get("next") or campaign.get_absolute_url())
    return render(request, FORECAST, {"campaign": campaign, **_forecast_context(campaign, job)})
