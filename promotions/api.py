"""Campaigns by API (SPEC 7): the list with its filters, one campaign's summary and stats, and
pause / resume / stop through the same services and status rules as the page's buttons.

The list filters through the page's own `CampaignFilter`, the summary is `selectors.campaign_summary`
(what the Publish section shows) and the stats are the detail page's selectors, so the API and
the pages cannot drift apart.
"""

from decimal import Decimal
from typing import Annotated, Literal

from django.core.paginator import EmptyPage, Paginator
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema

from config.account import account_tzinfo
from config.api import ApiError, error_responses, key_auth
from config.models import ApiScope
from promotions import selectors, services, why
from promotions.filters import SORT_FIELDS, CampaignFilter
from promotions.models import Campaign, CampaignRun, Grant
from segments.models import Profile

router = Router(tags=["Campaigns"])

MAX_PER_PAGE = 100
ERR_NO_CAMPAIGN = "No campaign has id {id}."
SECTION_LABELS = services.SECTION_LABELS

SORT_KEYS = tuple(key for _, name in SORT_FIELDS for key in (name, f"-{name}"))
CampaignId = Annotated[int, Field(ge=1, le=2**63 - 1, description="The campaign's id (shown as #id on its page).")]


# Schemas ---------------------------------------------------------------------------------


class CampaignListQuery(Schema):
    status: Literal[tuple(Campaign.Status.values)] | None = Field(
        None, description="Archived campaigns are listed only when asked for by status."
    )
    type: Literal[tuple(Campaign.Qualification.values)] | None = Field(None, description="The campaign type.")
    reward: Literal[tuple(Campaign.RewardType.values)] | None = Field(None, description="The reward type.")
    q: str | None = Field(None, max_length=200, description="Search by name (contains) or id (`42` or `#42`).")
    sort: Literal[SORT_KEYS] | None = Field(
        None, description="A column, `-` first for descending (as on the list page)."
    )
    page: int = Field(1, ge=1, description="1-based.")
    perPage: int = Field(25, ge=1, le=MAX_PER_PAGE, description="At most 100.")


class CampaignRow(Schema):
    id: int
    name: str
    status: str
    statusLabel: str
    type: str
    typeLabel: str
    rewardType: str | None
    reward: str = Field(description='The reward in words, e.g. "Flat 100 Supercoins", "Bulk codes: DIWALI".')
    startsAt: str | None
    endsAt: str | None
    createdBy: str | None
    rewardedProfiles: int
    url: str = Field(description="The campaign's page.")


class CampaignListOut(Schema):
    status: Literal["success"]
    page: int
    perPage: int
    totalPages: int
    totalRecords: int
    records: list[CampaignRow]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "page": 1,
                    "perPage": 25,
                    "totalPages": 1,
                    "totalRecords": 1,
                    "records": [
                        {
                            "id": 12,
                            "name": "Cashback",
                            "status": "running",
                            "statusLabel": "Running",
                            "type": "live_action",
                            "typeLabel": "Live action",
                            "rewardType": "points",
                            "reward": "Flat 10 Supercoins",
                            "startsAt": "2026-11-01T00:00:00+05:30",
                            "endsAt": None,
                            "createdBy": "ada",
                            "rewardedProfiles": 1520,
                            "url": "/campaigns/12/",
                        }
                    ],
                }
            ]
        }
    }


class SummaryRow(Schema):
    label: str
    value: str


class SummarySection(Schema):
    section: str
    title: str
    rows: list[SummaryRow]


class RunProgress(Schema):
    id: int
    status: str
    scheduledFor: str
    total: int
    processed: int
    granted: int
    percent: int


class CampaignStats(Schema):
    rewardsGiven: int
    profilesRewarded: int
    pointsDistributed: float | int
    codesDistributed: int
    notGranted: int = Field(description="Grants not given, by error; profiles held out are not errors.")
    heldOut: int = Field(0, description="Outcome records of held-out profiles (the holdout group).")


class BudgetRow(Schema):
    label: str
    used: float | int
    left: float | int
    limit: float | int
    percent: int


class NotGrantedReason(Schema):
    reason: str
    count: int
    examples: list[str] = Field(description="Identities of a few profiles not rewarded for this reason.")


class CampaignDetail(CampaignRow):
    description: str
    endReason: str
    actions: list[str] = Field(description="What the campaign's status allows (as the page's buttons).")
    summary: list[SummarySection] = Field(description="The configuration in words, as the Publish section shows it.")
    progress: RunProgress | None = Field(description="The distribution under way, if any.")
    stats: CampaignStats
    budget: list[BudgetRow] = Field(description="Live campaigns: budget / campaign limit used and left.")
    notGrantedByReason: list[NotGrantedReason]
    outcome: dict | None = Field(
        None,
        description=(
            "The outcome report when the campaign has a goal or a holdout (issue #19): `computedAt`, per group "
            "(`rewarded`, `holdout`) profiles, converted, rate and value; `uplift` (absolute and relative, with "
            "the 95 % Newcombe interval, incremental conversions and value, cost per incremental conversion, "
            "profiles still needed); `verdict` in words; `curve`, cumulative conversion per twentieth of the "
            "window. Null until computed."
        ),
    )


class CampaignDetailOut(Schema):
    status: Literal["success"]
    campaign: CampaignDetail

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "campaign": {
                        "id": 12,
                        "name": "Cashback",
                        "status": "running",
                        "statusLabel": "Running",
                        "type": "live_action",
                        "typeLabel": "Live action",
                        "rewardType": "points",
                        "reward": "Flat 10 Supercoins",
                        "startsAt": "2026-11-01T00:00:00+05:30",
                        "endsAt": None,
                        "createdBy": "ada",
                        "rewardedProfiles": 1520,
                        "url": "/campaigns/12/",
                        "description": "",
                        "endReason": "",
                        "actions": ["pause", "stop", "duplicate"],
                        "summary": [
                            {
                                "section": "start",
                                "title": "Start here",
                                "rows": [
                                    {"label": "Name", "value": "Cashback"},
                                    {"label": "Type", "value": "Live action"},
                                ],
                            },
                            {
                                "section": "what",
                                "title": "What",
                                "rows": [{"label": "Reward", "value": "Flat 10 Supercoins"}],
                            },
                        ],
                        "progress": None,
                        "stats": {
                            "rewardsGiven": 1600,
                            "profilesRewarded": 1520,
                            "pointsDistributed": 16000,
                            "codesDistributed": 0,
                            "notGranted": 12,
                        },
                        "budget": [
                            {"label": "Points budget", "used": 16000, "left": 84000, "limit": 100000, "percent": 16}
                        ],
                        "notGrantedByReason": [
                            {"reason": "User points budget exceeded", "count": 12, "examples": ["u7", "u9"]}
                        ],
                    },
                }
            ]
        }
    }


class CampaignActionOut(Schema):
    status: Literal["success"]
    campaign: CampaignRow

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "campaign": {
                        "id": 12,
                        "name": "Cashback",
                        "status": "paused",
                        "statusLabel": "Paused",
                        "type": "live_action",
                        "typeLabel": "Live action",
                        "rewardType": "points",
                        "reward": "Flat 10 Supercoins",
                        "startsAt": "2026-11-01T00:00:00+05:30",
                        "endsAt": None,
                        "createdBy": "ada",
                        "rewardedProfiles": 1520,
                        "url": "/campaigns/12/",
                    },
                }
            ]
        }
    }


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
        summary = selectors.campaign_summary(campaign)
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
            for section, rows in summary.items()
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


class GrantRecord(Schema):
    occurrence: str = Field(
        description='"run:<id>" (a run), "event:<id>" (a live action event), "check:<id>" (inaction).'
    )
    granted: bool
    reason: str | None = Field(description="Why it was not granted (SPEC 6.1), null when granted.")
    points: float | int | None
    code: str | None
    at: str


class ProfileOutcomeOut(Schema):
    status: Literal["success"]
    campaignId: int
    identity: str
    rewarded: bool
    explanation: str = Field(description="The outcome in words.")
    grants: list[GrantRecord]
    group: Literal["rewarded", "holdout"] | None = Field(
        None, description="With a holdout: the profile's group (a stable hash of campaign and profile)."
    )
    rules: list[dict] = Field(
        [], description="Past behaviour / custom list: each audience rule, true or false now, and why."
    )
    events: list[dict] = Field(
        [], description="Live: its recent trigger events, each matched or not and which filter or time excluded it."
    )
    counters: list[dict] = Field([], description="Live: the campaign and per-profile counters that decide caps.")
    conversions: list[dict] = Field([], description="With a goal: its goal events within the window.")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "campaignId": 12,
                    "identity": "u7",
                    "rewarded": False,
                    "explanation": "Not rewarded: User points budget exceeded.",
                    "grants": [
                        {
                            "occurrence": "event:99812",
                            "granted": False,
                            "reason": "User points budget exceeded",
                            "points": 10,
                            "code": None,
                            "at": "2026-11-02T10:15:00+00:00",
                        }
                    ],
                }
            ]
        }
    }


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
