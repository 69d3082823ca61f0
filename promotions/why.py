""" "Why this profile?" (SPEC 11, issue #19): what a campaign did with one profile, and why.

A read for one profile, so a handful of bounded, indexed queries: the audience rules explained
rule by rule (past behaviour: the segment explainer), or its recent trigger events each with
the filter or time that let it through or kept it out (live); every outcome with its reason and
the counters that decided it; its holdout group; its conversions towards the goal.
"""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from promotions import catalogue, holdout, outcomes, selectors
from promotions.models import Campaign, CampaignCounter, Grant, InactionCheck, ProfileCounter
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments.models import Event, Profile

C = Campaign
EVENTS_SHOWN = 20
GRANTS_SHOWN = 100

SAY_GRANTED = "Granted"
SAY_HELD_OUT = "Held out: in the holdout group, deliberately not rewarded (not an error)."
SAY_NOT_TRIGGER = "not a trigger event of this campaign"
SAY_BEFORE_START = "happened or arrived before the campaign started"
SAY_AFTER_END = "happened or arrived after the campaign ended"
SAY_FILTER = "filter not met: {filter}"
SAY_PAST_FILTER = "the past-behaviour filter did not match"
SAY_MATCHED = "matched the trigger"
SAY_NEVER = (
    "Not rewarded: the campaign never decided for this profile (not in the audience at a run, or no matching event)."
)


def _window_reason(campaign: Campaign, event: Event) -> str | None:
    for moment in (event.occurred_at, event.received_at):
        if campaign.starts_at is None or moment < campaign.starts_at:
            return SAY_BEFORE_START
        if campaign.ends_at is not None and moment >= campaign.ends_at:
            return SAY_AFTER_END
    return None


def _live_events(campaign: Campaign, profile: Profile, grants_by_occurrence: dict) -> list[dict]:
    """The profile's recent events of the campaign's trigger names, each matched or not and why."""
    if campaign.qualification == C.Qualification.LIVE_ACTION:
        triggers = {t.get("event"): t for t in campaign.triggers or [] if isinstance(t, dict)}
    else:
        triggers = {campaign.inaction_event_a: {"event": campaign.inaction_event_a, "filters": []}}
    events = list(
        Event.objects.filter(profile=profile, name__in=list(triggers)).order_by("-occurred_at", "-pk")[:EVENTS_SHOWN]
    )
    ids = [e.pk for e in events]
    failed: dict[int, str] = {}
    # One query per trigger filter, over these (at most EVENTS_SHOWN) events only.
    for name, trigger in triggers.items():
        try:
            filters = segment_rules.validate_filters(trigger.get("filters") or [])
        except ValidationError:
            filters = []
        for f in filters:
            passing = set(
                Event.objects.filter(pk__in=ids, name=name)
                .filter(segment_rules.filter_q(f))
                .values_list("pk", flat=True)
            )
            for e in events:
                if e.name == name and e.pk not in passing and e.pk not in failed:
                    failed[e.pk] = SAY_FILTER.format(filter=segment_rules.describe_filter(f))
    past_ok = True
    if isinstance(campaign.past_filter, dict) and campaign.past_filter.get("rules"):
        try:
            condition = segment_selectors.rules_q(rules=campaign.past_filter, now=timezone.now())
            past_ok = Profile.objects.filter(pk=profile.pk).filter(condition).exists()
        except ValidationError:
            past_ok = False
    checks = {}
    if campaign.qualification == C.Qualification.LIVE_INACTION:
        checks = {c.event_a_id: c for c in InactionCheck.objects.filter(campaign=campaign, event_a_id__in=ids)}
    rows = []
    for e in events:
        why = _window_reason(campaign, e) or failed.get(e.pk)
        if why is None and not past_ok:
            why = f"{SAY_PAST_FILTER} (now)"
        occurrence = f"event:{e.pk}"
        if e.pk in checks:
            check = checks[e.pk]
            occurrence = check.occurrence
            why = (
                why
                or f"event A: inaction check {check.get_status_display().lower()}, due {check.due_at:%Y-%m-%d %H:%M}"
            )
        grant = grants_by_occurrence.get(occurrence)
        rows.append(
            {
                "at": e.occurred_at,
                "name": e.name,
                "matched": why is None or e.pk in checks,
                "why": why or SAY_MATCHED,
                "outcome": (SAY_GRANTED if grant.granted else grant.reason) if grant else "",
            }
        )
    return rows


def _counters(campaign: Campaign, profile: Profile) -> list[tuple[str, str]]:
    """The counters a live decision reads (campaign usage and the profile's per-period counts)."""
    rows = []
    counter = CampaignCounter.objects.filter(pk=campaign.pk).first()
    if counter is not None:
        if campaign.budget_campaign is not None:
            rows.append(
                (
                    "Campaign budget used",
                    f"{counter.points_used.normalize():f} of {campaign.budget_campaign.normalize():f}",
                )
            )
        if campaign.max_codes_per_campaign:
            rows.append(("Campaign codes given", f"{counter.rewards} of {campaign.max_codes_per_campaign}"))
    for pc in ProfileCounter.objects.filter(campaign=campaign, profile=profile).order_by("period"):
        label = "In total" if pc.period == "total" else pc.period
        rows.append((f"This profile, {label}", f"{pc.rewards} reward(s), {pc.points.normalize():f} points"))
    return rows


def _conversions(campaign: Campaign, profile: Profile, qualified_at) -> list[dict]:
    window = outcomes.goal_window(campaign)
    if window is None or qualified_at is None:
        return []
    events = (
        outcomes.goal_events(campaign)
        .filter(profile_id=profile.pk, occurred_at__gt=qualified_at, occurred_at__lte=qualified_at + window)
        .order_by("occurred_at")[:EVENTS_SHOWN]
    )
    return [{"at": e["occurred_at"], "value": e["v"]} for e in events]


def profile_story(*, campaign: Campaign, identity: str, now: datetime.datetime | None = None) -> dict | None:
    """Everything the campaign decided for the profile with `identity`, in words; None if no such profile."""
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        return None
    grants = list(Grant.objects.filter(campaign=campaign, profile=profile).order_by("created_at", "pk")[:GRANTS_SHOWN])
    by_occurrence = {g.occurrence: g for g in grants}
    story = {
        "profile": profile,
        "identity": identity,
        "held_out": holdout.is_held_out(
            campaign_id=campaign.pk, profile_id=profile.pk, percent=campaign.holdout_percent
        ),
        "holdout_percent": campaign.holdout_percent,
        "grants": [
            {
                "at": g.created_at,
                "occurrence": g.occurrence,
                "granted": g.granted,
                "reason": g.reason,
                "why": SAY_GRANTED if g.granted else (SAY_HELD_OUT if g.reason == Grant.Reason.HELD_OUT else g.reason),
                "points": g.points,
                "code": g.code,
            }
            for g in grants
        ],
        "rules": None,
        "events": [],
        "counters": [],
        "qualified_at": grants[0].created_at if grants else None,
        "conversions": [],
    }
    if campaign.is_live:
        story["events"] = _live_events(campaign, profile, by_occurrence)
        story["counters"] = _counters(campaign, profile)
    if campaign.reward_type in (C.RewardType.COUPON, C.RewardType.VOUCHER):
        left = selectors.campaign_codes_left(campaign=campaign)
        if left is not None:
            story["counters"].append(("Codes left now", f"{left:,}"))
    if not campaign.is_live:
        rules = catalogue.audience_rules(campaign)
        if rules is not None:
            try:
                story["rules"] = segment_selectors.rule_explain(rules=rules, profile=profile, now=now)
            except ValidationError:
                story["rules"] = None
    story["conversions"] = _conversions(campaign, profile, story["qualified_at"])
    story["summary"] = _summary(story, campaign)
    return story


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n:,} times"


def _summary(story: dict, campaign: Campaign) -> str:
    granted = sum(1 for g in story["grants"] if g["granted"])
    held = sum(1 for g in story["grants"] if g["reason"] == Grant.Reason.HELD_OUT)
    if granted:
        text = f"Rewarded {_times(granted)}."
    elif held:
        text = "Not rewarded: in the holdout group (deliberately, to measure the campaign)."
    elif story["grants"]:
        reasons = ", ".join(dict.fromkeys(g["reason"] for g in story["grants"]))
        text = f"Not rewarded: {reasons}."
    else:
        text = SAY_NEVER
    if campaign.has_goal and story["qualified_at"]:
        n = len(story["conversions"])
        text += (
            f" Converted ({campaign.goal_event}) {_times(n)} within the goal's window."
            if n
            else f" No {campaign.goal_event} within the goal's window yet."
        )
    return text
