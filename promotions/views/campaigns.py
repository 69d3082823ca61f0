"""The campaign list and the campaign page, the status actions (pause, resume, stop, archive,
duplicate), and the grants' CSV export."""

import csv

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import HttpResponseClientRedirect

from accounts import access
from accounts.account import timezone_label
from core.csv_safety import csv_safe
from promotions import selectors, services, summary
from promotions.filters import CampaignFilter
from promotions.models import Campaign, Grant
from promotions.views import reports

DETAIL = "promotions/campaign_detail.html"
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


def redirect_to(request, url: str):
    """After an action: a redirect, or for an HTMX request HX-Redirect (the page loads whole)."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


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
    """The list with its filters; a filter that does not parse answers 422 with its error above the table."""
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
    if request.htmx and request.htmx.target == "campaign-table":
        template += "#campaign-table"
    return render(request, template, context, status=422 if filterset.errors else 200)


@access.marketer_required
def campaign_detail(request, pk: int):
    try:
        campaign = selectors.campaign_get(pk=pk)
    except Campaign.DoesNotExist as exc:
        raise Http404("No such campaign.") from exc
    if request.htmx and request.htmx.target == "campaign-chart" and reports.shows_chart(campaign):
        context = {"campaign": campaign, **reports.chart_context(request, campaign)}
        return render(request, f"{DETAIL}#campaign-chart", context)
    if request.htmx and request.htmx.target == "profile-why":
        return render(request, f"{DETAIL}#profile-why", reports.why_context(request, campaign))
    runs = selectors.campaign_runs(campaign=campaign)
    context = {
        **reports.outcome_context(campaign),
        **reports.why_context(request, campaign),
        "campaign": campaign,
        "show_chart": reports.shows_chart(campaign),
        **reports.progress_context(runs),
        "summary": summary.campaign_summary(campaign),
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
        context.update(reports.chart_context(request, campaign))
    if reports.forecast_shows(campaign):
        context.update(reports.forecast_context(campaign))
    return render(request, DETAIL, context)


def _history_note(details: dict) -> str:
    """What a history row adds to its action. Read in Python: in a template `details.copy`
    falls back to the dict's own copy() method when the key is absent."""
    note = f": {details['section']}" if details.get("section") else ""
    if details.get("copy"):
        note += f" (copy #{details['copy']})"
    if details.get("duplicated_from"):
        note += f" (from #{details['duplicated_from']})"
    return note


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
        return redirect_to(request, reverse("promotions:campaign_action", args=[pk, "stop"]))
    try:
        result = services.ACTIONS[action](campaign=campaign, actor=request.user)
    except services.CampaignError as exc:
        messages.error(request, str(exc))
        return redirect_to(request, request.POST.get("next") or campaign.get_absolute_url())
    if action == "duplicate":
        messages.success(request, f"Created “{result.name}” as a Draft.")
        return redirect_to(request, reverse("promotions:campaign_builder", args=[result.pk]))
    messages.success(request, f"“{result.name}” is {result.get_status_display()}.")
    return redirect_to(request, _safe_next(request) or result.get_absolute_url())


def _safe_next(request) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith("/campaigns/") else ""


# Export ---------------------------------------------------------------------------------


class _Echo:
    def write(self, value):
        return value


@access.marketer_required
def campaign_grants_csv(request, pk: int):
    """Every grant of the campaign as CSV (profile, outcome, reason, code, points, occurrence, time); formula-safe."""
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
