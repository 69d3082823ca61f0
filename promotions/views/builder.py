"""The campaign builder (SPEC 4): the page of four sections and Publish, each section's save and
re-render, and the Publish button."""

from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import push_url, reswap, retarget

from accounts import access
from accounts.account import timezone_label
from promotions import forms as section_forms
from promotions import selectors, services, summary
from promotions.models import Campaign
from promotions.views.campaigns import redirect_to
from promotions.views.reports import forecast_context

BUILDER = "promotions/campaign_builder.html"
SECTIONS = (*Campaign.SECTIONS, "publish")


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
    in_words = summary.campaign_summary(campaign) if campaign.pk else {}
    # The exact count, once everything is filled in and the marketer is about to publish (SPEC 2.4).
    exact_audience = None
    if open_section == "publish" and campaign.pk and campaign.all_sections_complete:
        exact_audience = selectors.campaign_exact_audience(campaign)
    return {
        "publish_cards": [(name, services.SECTION_LABELS[name], in_words.get(name, [])) for name in Campaign.SECTIONS],
        "campaign": campaign,
        "sections": sections,
        "form": form,
        "notes": notes,
        "who_estimate": who_estimate,
        "exact_audience": exact_audience,
        "error": error,
        "summary": in_words,
        "timezone_label": timezone_label(tz),
        "publish_url": reverse("promotions:campaign_publish", args=[campaign.pk]) if campaign.pk else "",
        **(forecast_context(campaign) if open_section == "publish" and campaign.pk else {}),
    }


def _render_builder(request, campaign, *, partial: str | None = None, status: int = 200, **kwargs):
    """The builder page, or for an HTMX request the partial named after the region it swaps."""
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
    """Save a section (422 with its errors when invalid, 409 when the campaign refuses it), or
    re-render it (or one note of it) after a choice changed."""
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
        return _render_builder(request, campaign, partial=partial, form=form, status=422)
    try:
        if campaign.pk is None:
            campaign = services.campaign_create(values=form.values(), actor=request.user)
        else:
            campaign = services.campaign_section_save(
                campaign=campaign, section=section, values=form.values(), actor=request.user
            )
    except services.CampaignError as exc:
        return _render_builder(request, campaign, partial=partial, form=form, error=str(exc), status=409)
    builder_url = reverse("promotions:campaign_builder", args=[campaign.pk])
    if not request.htmx:
        return redirect(builder_url)
    # Saved: the whole builder comes back (the next section opens), at the builder's own URL.
    response = _render_builder(request, campaign, partial="builder")
    return push_url(reswap(retarget(response, "#builder"), "outerHTML"), builder_url)


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
        return redirect_to(request, campaign.get_absolute_url())
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
        return redirect_to(request, target)
    message = f"“{campaign.name}” is {campaign.get_status_display()}."
    audience = selectors.campaign_published_audience(campaign)
    if audience is not None:
        message += f" Exact audience at publish: {audience:,} profile{pluralize(audience)}."
    messages.success(request, message)
    return redirect_to(request, campaign.get_absolute_url())
