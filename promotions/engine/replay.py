"""The engine replayed on stored events, writing nothing: what the forecast (promotions/forecast.py)
reads (issue #21).

`live_items` finds, with set-based SQL over a window, the items the live matcher would have
decided (trigger names and property filters, the loop rule and the past-behaviour filter of
`promotions.engine.live`; for inaction the window, event B and the constant property), in the
order the engine would have decided them (the event's time; the check's due time).
`replay_items` then runs them one at a time through `limits.decide`, THE decision the engine
itself calls, with in-memory `limits.Counters` instead of the database rows, codes counted down
instead of claimed, and `limits.used_up_reason` to stop where the engine would have completed
the campaign.
"""

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, JSONField, OuterRef, Q, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform

from accounts.account import account_tzinfo
from promotions import catalogue, holdout
from promotions.engine import limits, live
from promotions.models import Campaign, Grant
from segments import rules as segment_rules
from segments.models import Event

C = Campaign
R = Grant.Reason
FORECAST_CODE = "(forecast)"


@dataclass
class Decision:
    """One item as the engine would have decided it."""

    occurrence: str
    profile_id: int
    at: datetime.datetime
    reason: str
    points: Decimal | None


@dataclass
class Replay:
    decisions: list[Decision] = field(default_factory=list)
    triggers: int = 0  # items found in the window (decided or after the end)
    ended_at: datetime.datetime | None = None
    end_reason: str = ""
    codes_left: int | None = None
    held_out: int = 0  # items of profiles in the campaign's holdout group: never decided, never rewarded
    approximations: list[str] = field(default_factory=list)


# --- The matching: set-based SQL over the window ------------------------------------------------


def _trigger_condition(campaign: Campaign) -> Q | None:
    """(name = trigger AND its property filters) OR … ; None when no trigger can match."""
    condition = Q()
    for trigger in campaign.triggers or []:
        if not isinstance(trigger, dict) or not trigger.get("event"):
            continue
        try:
            filters = segment_rules.validate_filters(trigger.get("filters") or [])
        except ValidationError:
            continue  # the engine: an invalid trigger matches nothing
        part = Q(name=trigger["event"])
        for f in filters:
            part &= segment_rules.filter_q(f)
        condition |= part
    return condition or None


def _not_looping(campaign: Campaign, rows):
    """The engine's loop rule, on rows whose last two fields are the system event properties."""
    for row in rows:
        *head, name, own, depth = row
        event = {"name": name, "properties": {live.PROP_CAMPAIGN: own, live.PROP_DEPTH: depth}}
        if not live.loops(campaign, event):
            yield head, live.trigger_depth(event)


def _with_loop_fields(query):
    return query.annotate(
        _own=KeyTransform(live.PROP_CAMPAIGN, "properties"), _depth=KeyTransform(live.PROP_DEPTH, "properties")
    )


def live_items(campaign: Campaign, *, since: datetime.datetime, until: datetime.datetime) -> list[limits.Item]:
    """The items the engine would have decided in [since, until), in the order it would have."""
    try:
        past = live.past_filter_q(campaign, until)
    except ValidationError:
        return []  # the engine: an invalid past-behaviour filter matches nothing
    if campaign.qualification == C.Qualification.LIVE_ACTION:
        condition = _trigger_condition(campaign)
        if condition is None:
            return []
        query = Event.objects.filter(occurred_at__gte=since, occurred_at__lt=until).filter(condition)
        if past is not None:
            query = query.filter(past)
        prop = campaign.points_property
        value = KeyTransform(prop, "properties") if prop else Value(None, output_field=JSONField())
        query = _with_loop_fields(query.annotate(_value=value))
        rows = query.order_by("occurred_at", "pk").values_list(
            "pk", "profile_id", "occurred_at", "_value", "name", "_own", "_depth"
        )
        return [
            limits.Item(profile_id=profile_id, occurrence=f"event:{pk}", at=at, value=value, depth=depth)
            for (pk, profile_id, at, value), depth in _not_looping(campaign, rows.iterator(chunk_size=10_000))
        ]
    if campaign.qualification == C.Qualification.LIVE_INACTION:
        return _inaction_items(campaign, since=since, until=until, past=past)
    return []


def _inaction_items(campaign: Campaign, *, since, until, past: Q | None) -> list[limits.Item]:
    """Event A in the window whose check would be due by `until` and whose B did not come."""
    if (
        not campaign.inaction_event_a
        or not campaign.inaction_window_value
        or campaign.inaction_window_unit not in live.WINDOW
    ):
        return []
    window = live.WINDOW[campaign.inaction_window_unit] * campaign.inaction_window_value
    prop = campaign.constant_property
    due = ExpressionWrapper(F("occurred_at") + Value(window), output_field=DateTimeField())
    query = Event.objects.filter(
        name=campaign.inaction_event_a, occurred_at__gte=since, occurred_at__lte=until - window
    ).annotate(_due=due)
    b = Event.objects.filter(
        profile_id=OuterRef("profile_id"),
        name=campaign.inaction_event_b,
        occurred_at__gte=OuterRef("occurred_at"),
        occurred_at__lte=OuterRef("_due"),
    ).exclude(pk=OuterRef("pk"))
    if prop:
        # "Same Product ID in A and B" needs a value on A (not missing, not null) to compare with.
        query = query.annotate(
            _constant=KeyTransform(prop, "properties"), _constant_text=KeyTextTransform(prop, "properties")
        ).filter(_constant_text__isnull=False)
        b = b.annotate(_constant=KeyTransform(prop, "properties")).filter(_constant=OuterRef("_constant"))
    query = query.filter(~Exists(b))
    if past is not None:
        query = query.filter(past)
    rows = (
        _with_loop_fields(query)
        .order_by("_due", "pk")
        .values_list("pk", "profile_id", "_due", "name", "_own", "_depth")
    )
    return [
        limits.Item(profile_id=profile_id, occurrence=f"check:a{pk}", at=due_at)
        for (pk, profile_id, due_at), _ in _not_looping(campaign, rows.iterator(chunk_size=10_000))
    ]


# --- The caps: one ordered pass through the engine's decision -----------------------------------


def codes_left(campaign: Campaign) -> int | None:
    """Codes the series or list has left now (None: not a code campaign, or unlimited)."""
    if campaign.reward_type == C.RewardType.COUPON and campaign.coupon_id:
        return catalogue.coupon_codes_left(campaign.coupon)
    if campaign.reward_type == C.RewardType.VOUCHER and campaign.voucher_list_id:
        return catalogue.voucher_codes_left(campaign.voucher_list)
    return None


def _out_reason(campaign: Campaign) -> str:
    if campaign.reward_type == C.RewardType.VOUCHER:
        return R.VOUCHER_CODES_EXHAUSTED
    if campaign.coupon_id and campaign.coupon.kind == "bulk":
        return R.BULK_CODES_EXHAUSTED
    return R.COUPON_LIMIT_REACHED


def replay_items(campaign: Campaign, items: list[limits.Item], *, rng=None, progress=None) -> Replay:
    """Decide `items` (in order) as the engine would have, on in-memory counters; never claims a code.

    One `limits.decide` call per item, as events arriving one by one are decided, and the replay
    stops where the engine would have completed the campaign (`limits.used_up_reason`).
    """
    rng = rng or random.Random(0)
    tz = account_tzinfo()
    counters = limits.Counters(used=Decimal(0), given=0, per_user={})
    refused = limits.config_reason(campaign)
    result = Replay(triggers=len(items), codes_left=codes_left(campaign))
    stock = [result.codes_left]
    out_reason = _out_reason(campaign) if campaign.reward_type != C.RewardType.POINTS else ""

    def take_code(item: limits.Item) -> tuple[str, str]:
        if stock[0] is None:
            return "", FORECAST_CODE
        if stock[0] <= 0:
            return out_reason, ""
        stock[0] -= 1
        return "", FORECAST_CODE

    # As the engine does: the holdout group never reaches the budget, cap or code decisions.
    held = holdout.held_out_ids(
        campaign_id=campaign.pk, profile_ids={i.profile_id for i in items}, percent=campaign.holdout_percent
    )
    step = max(len(items) // 20, 1)
    for n, item in enumerate(items, 1):
        if item.profile_id in held:
            result.held_out += 1
            continue
        outcome, _, _ = limits.decide(
            campaign, [item], counters=counters, tz=tz, rng=rng, take_code=take_code, refused=refused
        )
        reason, points, _ = outcome[item.occurrence]
        result.decisions.append(Decision(item.occurrence, item.profile_id, item.at, reason, points))
        why = limits.used_up_reason(
            campaign, used=counters.used, given=counters.given, codes_out=reason in limits.CODES_OUT
        )
        if why:
            result.ended_at, result.end_reason = item.at, why
            break
        if progress and n % step == 0:
            progress(n / len(items))
    return result
