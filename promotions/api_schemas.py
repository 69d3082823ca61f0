"""The campaign API's request and response shapes (django-ninja schemas): what promotions/api.py
takes and returns, with the examples the OpenAPI document shows."""

from typing import Annotated, Literal

from ninja import Field, Schema

from promotions.filters import SORT_FIELDS
from promotions.models import Campaign

MAX_PER_PAGE = 100
SORT_KEYS = tuple(key for _, name in SORT_FIELDS for key in (name, f"-{name}"))
CampaignId = Annotated[int, Field(ge=1, le=2**63 - 1, description="The campaign's id (shown as #id on its page).")]


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
