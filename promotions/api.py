"""Campaigns by API (SPEC 7): the list with its filters, one campaign's summary and stats, and
pause / resume / stop through the same services and status rules as the page's buttons.

The list filters through the page's own `CampaignFilter`, the summary is `summary.campaign_summary`
(what the Publish section shows) and the stats are the detail page's selectors, so the API and
the pages cannot drift apart. The request and response schemas are in api_schemas.py.
"""

from decimal import Decimal

from django.core.paginator import EmptyPage, Paginator
from django.utils import timezone
from ninja import Path, Query, Router

from accounts.account import account_tzinfo
from accounts.api import ApiError, error_responses, key_auth
from accounts.models import ApiScope
from promotions import selectors, services, summary, why
from promotions.api_schemas import (
    CampaignActionOut,
    CampaignDetailOut,
    CampaignId,
    CampaignListOut,
    CampaignListQuery,
    ProfileOutcomeOut,
)
from promotions.filters import CampaignFilter
from promotions.models import Campaign, CampaignRun, Grant
from segments.models import Profile

router = Router(tags=["Campaigns"])

ERR_NO_CAMPAIGN = "No campaign has id {id}."
SECTION_LABELS = services.SECTION_LABELS

# Helpers ---------------------------------------------------------------------------------


def _iso(value):
    return value.isoformat() if value else None


def _num(value) -> float | int:
    value = Decimal(str(value or 0))
    return int(value) if value == value.to_integral_value() else float(value)


def _row(campaign: Campaign) -> dict:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "statusLabel": campaign.get_status_display(),
        "type": campaign.qualification,
        "typeLabel": campaign.get_qualification_display(),
        "rewardType": campaign.reward_type or None,
        "reward": campaign.reward_label,
        "startsAt": _iso(campaign.starts_at),
        "endsAt": _iso(campaign.ends_at),
        "createdBy": campaign.created_by.username if campaign.created_by_id else None,
        "rewardedProfiles": selectors.campaign_rewarded(campaign),
        "url": campaign.get_absolute_url(),
    }


def _campaign(campaign_id: int) -> Campaign:
    try:
        return selectors.campaign_get(pk=campaign_id)
    except Campaign.DoesNotExist as exc:
        raise ApiError(404, ERR_NO_CAMPAIGN.format(id=campaign_id), field="id") from exc


def _progress(runs) -> dict | None:
    run = next((r for r in runs if r.status == CampaignRun.Status.RUNNING), None) or next(
        (r for r in runs if r.status == CampaignRun.Status.PENDING), None
    )
    if run is None:
        return None
    return {
        "id": run.pk,
        "status": run.status,
        "scheduledFor": run.scheduled_for.isoformat(),
        "total": run.total,
        "processed": run.processed,
        "granted": run.granted,
        "percent": run.percent,
    }


# Endpoints -------------------------------------------------------------------------------


@router.get(
    "promo/campaigns",
    auth=key_auth(ApiScope.CAMPAIGNS_READ),
    response={200: CampaignListOut, **error_responses()},
    summary="List campaigns",
    description=(
        "The campaign list's filters (status, type, reward type, search by name or id) and sorting, "
        "newest first by default, paged. Archived campaigns appear only when `status=archived`. "
        "Scope: `campaigns:read`."
    ),
)
def campaign_list(request, filters: Query[CampaignListQuery]):
    data = {"status": filters.status or "", "type": filters.type or "", "reward": filters.reward or ""}
    data.update(q=filters.q or "", sort=filters.sort or "")
    filterset = CampaignFilter(data, queryset=selectors.campaign_list_queryset(), request=request)
    paginator = Paginator(filterset.qs, filters.perPage)
    try:
        rows = [_row(c) for c in paginator.page(filters.page).object_list]
    except EmptyPage:
        rows = []
    return {
        "status": "success",
        "page": filters.page,
        "perPage": filters.perPage,
        "totalPages": paginator.num_pages,
        "totalRecords": paginator.count,
        "records": rows,
    }


@router.get(
    "promo/campaigns/{campaign_id}",
    auth=key_auth(ApiScope.CAMPAIGNS_READ),
    response={200: CampaignDetailOut, **error_responses(404)},
    summary="One campaign: summary, status, progress and stats",
    description=(
        "The configuration in words (as the Publish section shows it), the status and the actions it "
        "allows, the distribution under way, and the stats of the campaign page: rewards given, "
        "profiles rewarded, points or codes distributed, budget used / left, not-granted counts by "
        "reason. Scope: `campaigns:read`."
    ),
)
def campaign_detail(request, campaign_id: Path[CampaignId]):
    campaign = _campaign(campaign_id)
    runs = selectors.campaign_runs(campaign=campaign)
    stats = selectors.campaign_grant_stats(campaign=campaign)
    with timezone.override(account_tzinfo()):
        sections = summary.campaign_summary(campaign)
    detail = {
        **_row(campaign),
        "description": campaign.description,
        "endReason": campaign.end_reason,
        "actions": services.campaign_actions(campaign),
        "summary": [
            {
                "section": section,
                "title": SECTION_LABELS.get(section, section.title()),
                "rows": [{"label": label, "value": str(value)} for label, value in rows],
            }
            for section, rows in sections.items()
        ],
        "progress": _progress(runs),
        "stats": {
            "rewardsGiven": stats["rewards_given"],
            "profilesRewarded": stats["profiles_rewarded"],
            "pointsDistributed": _num(stats["points_distributed"]),
            "codesDistributed": stats["codes_distributed"],
            "notGranted": stats["not_granted"],
            "heldOut": stats["held_out"],
        },
        "budget": [
            {
                "label": row["label"],
                "used": _num(row["used"]),
                "left": _num(row["left"]),
                "limit": _num(row["limit"]),
                "percent": row["percent"],
            }
            for row in selectors.campaign_live_limits(campaign=campaign)
        ],
        "notGrantedByReason": [
            {"reason": row["reason"], "count": row["count"], "examples": [e["identity"] for e in row["examples"]]}
            for row in selectors.campaign_grant_errors(campaign=campaign)
        ],
        "outcome": _outcome(campaign),
    }
    return {"status": "success", "campaign": detail}


def _outcome(campaign: Campaign) -> dict | None:
    row = selectors.campaign_outcome(campaign=campaign)
    if row is None or not (campaign.has_goal or campaign.holdout_percent):
        return None
    return {"computedAt": row.computed_at.isoformat(), **row.report}


MSG_NEVER_ATTEMPTED = (
    "Not rewarded: no reward was attempted for this profile (it was not in the audience when a run took "
    "place, or has not done what the campaign rewards)."
)
MSG_NOT_GRANTED = "Not rewarded: {reasons}."
MSG_HELD_OUT = "Not rewarded: in the holdout group (deliberately, to measure the campaign)."
MSG_REWARDED = "Rewarded {times}."
ERR_NO_PROFILE = "No profile has identity “{identity}”."


@router.get(
    "promo/campaigns/{campaign_id}/profiles/{path:identity}",
    auth=key_auth(ApiScope.CAMPAIGNS_READ),
    response={200: ProfileOutcomeOut, **error_responses(404)},
    summary="Why a profile was or was not rewarded",
    description=(
        "Every reward attempt of the campaign for the profile (newest first, at most 100): granted, or "
        "not and why (SPEC 6.1), with the points or code. Scope: `campaigns:read`."
    ),
)
def campaign_profile_outcome(request, campaign_id: Path[CampaignId], identity: str):
    campaign = _campaign(campaign_id)
    profile = Profile.objects.filter(identity=identity).only("pk").first()
    if profile is None:
        raise ApiError(404, ERR_NO_PROFILE.format(identity=identity[:256]), field="identity")
    grants = selectors.campaign_profile_grants(campaign=campaign, profile_id=profile.pk)
    granted = [g for g in grants if g.granted]
    story = why.profile_story(campaign=campaign, identity=identity)
    if granted:
        explanation = MSG_REWARDED.format(times="once" if len(granted) == 1 else f"{len(granted):,} times")
    elif grants and all(g.reason == Grant.Reason.HELD_OUT for g in grants):
        explanation = MSG_HELD_OUT
    elif grants:
        explanation = MSG_NOT_GRANTED.format(reasons=", ".join(dict.fromkeys(g.reason for g in grants)))
    else:
        explanation = MSG_NEVER_ATTEMPTED
    return {
        "status": "success",
        "campaignId": campaign.pk,
        "identity": identity,
        "rewarded": bool(granted),
        "explanation": explanation,
        "grants": [
            {
                "occurrence": g.occurrence,
                "granted": g.granted,
                "reason": g.reason or None,
                "points": _num(g.points) if g.points is not None else None,
                "code": g.code or None,
                "at": g.created_at.isoformat(),
            }
            for g in grants
        ],
        "group": ("holdout" if story["held_out"] else "rewarded") if campaign.holdout_percent else None,
        "rules": [
            {"rule": line["text"], "true": line["matched"], "why": line["why"]}
            for line in (story["rules"] or {}).get("lines", [])
            if not line["group"]
        ],
        "events": [
            {
                "at": e["at"].isoformat(),
                "event": e["name"],
                "matched": e["matched"],
                "why": e["why"],
                "outcome": e["outcome"],
            }
            for e in story["events"]
        ],
        "counters": [{"counter": label, "value": value} for label, value in story["counters"]],
        "conversions": [
            {"at": c["at"].isoformat(), "value": _num(c["value"]) if c["value"] is not None else None}
            for c in story["conversions"]
        ],
    }


def _act(request, campaign_id: int, action: str) -> dict:
    campaign = _campaign(campaign_id)
    try:
        campaign = services.ACTIONS[action](campaign=campaign, actor=None, api_key=request.api_key)
    except services.CampaignError as exc:
        raise ApiError(409, str(exc), reason=f"{action}_not_allowed", campaignStatus=_status_now(campaign)) from exc
    return {"status": "success", "campaign": _row(selectors.campaign_get(pk=campaign.pk))}


def _status_now(campaign: Campaign) -> str:
    return Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).first() or campaign.status


ACTION_DESCRIPTION = (
    "Same rules as the campaign page's button ({rule}); otherwise 409 with the reason. Recorded in the "
    "campaign's history as done by the API key. Scope: `campaigns:write`."
)


@router.post(
    "promo/campaigns/{campaign_id}/pause",
    auth=key_auth(ApiScope.CAMPAIGNS_WRITE),
    response={200: CampaignActionOut, **error_responses(404, 409)},
    summary="Pause a campaign",
    description=ACTION_DESCRIPTION.format(rule="Scheduled or Running; no reward is given after the pause commits"),
)
def campaign_pause(request, campaign_id: Path[CampaignId]):
    return _act(request, campaign_id, "pause")


@router.post(
    "promo/campaigns/{campaign_id}/resume",
    auth=key_auth(ApiScope.CAMPAIGNS_WRITE),
    response={200: CampaignActionOut, **error_responses(404, 409)},
    summary="Resume a paused campaign",
    description=ACTION_DESCRIPTION.format(rule="Paused only; a distribution under way continues where it stopped"),
)
def campaign_resume(request, campaign_id: Path[CampaignId]):
    return _act(request, campaign_id, "resume")


@router.post(
    "promo/campaigns/{campaign_id}/stop",
    auth=key_auth(ApiScope.CAMPAIGNS_WRITE),
    response={200: CampaignActionOut, **error_responses(404, 409)},
    summary="Stop a campaign for good",
    description=ACTION_DESCRIPTION.format(rule="Scheduled, Running or Paused; stopping is permanent"),
)
def campaign_stop(request, campaign_id: Path[CampaignId]):
    return _act(request, campaign_id, "stop")
