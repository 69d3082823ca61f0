"""What: the reward (points from a wallet, a coupon, a voucher code) with its amounts, lifecycle and
limits, and the optional outcome goal; what the section offers follows the reward and the campaign."""

import datetime

from promotions import catalogue, points
from promotions.models import Campaign
from promotions.rules.errors import MSG_FUTURE, Errors, add, check_choice, check_present, merge
from promotions.rules.filters import filter_rows_check, stored_rows

C = Campaign

MSG_RANDOM_ORDER = "Max must be greater than or equal to Min."
MSG_RANDOM_SPAN = f"The range from Min to Max may span at most {points.MAX_RANDOM_SPAN:,} points."
MSG_DUPLICATE_KEY = "Duplicate metadata key: {key}."
MSG_VALUE_WITHOUT_KEY = "Row {row}: a value needs a key."
MSG_GOAL_FILTER_ROW = "Goal filter {row}: {message}"
MSG_GOAL_WINDOW = "Enter how long after qualifying a conversion counts."

LIVE_POINTS_LIMITS = ["budget_campaign", "max_per_user_total", "max_per_user_day", "max_per_user_week"]
LIVE_CODE_LIMITS = ["max_codes_per_user", "max_codes_per_campaign"]


def numeric_trigger_properties(campaign: Campaign) -> list[str]:
    """Percentage / Proportional apply only to a live user-action campaign with one trigger event."""
    c = campaign
    if c.qualification != C.Qualification.LIVE_ACTION or len(c.triggers or []) != 1:
        return []
    return catalogue.event_numeric_properties(c.triggers[0].get("event", ""))


def points_types(numeric: list[str]) -> list[str]:
    """The points types offered: a percentage or proportion needs a numeric property of the trigger."""
    types = [C.PointsType.FLAT, C.PointsType.RANDOM]
    if numeric:
        types += [C.PointsType.PERCENTAGE, C.PointsType.PROPORTIONAL]
    return [t.value for t in types]


def fields_offered(
    *,
    reward: str,
    live: bool,
    points_type: str = "",
    offered_types=(),
    custom_lifecycle: bool = False,
    activation: str = "",
    expiry: str = "",
    coupon_kind: str = "",
    redemption_activation: str = "",
    partner_offered: bool = False,
) -> list[str]:
    """The reward fields the current choices offer (the outcome fields are always there)."""
    keep = []
    if reward == C.RewardType.POINTS:
        keep += ["wallet", "points_type", "custom_lifecycle", "metadata_count"]
        ptype = points_type if points_type in offered_types else ""
        if ptype == C.PointsType.FLAT:
            keep += ["flat_points"]
        elif ptype == C.PointsType.RANDOM:
            keep += ["random_min", "random_max", "random_favor"]
        elif ptype == C.PointsType.PERCENTAGE:
            keep += ["points_property", "percentage", "max_points_per_reward"]
        elif ptype == C.PointsType.PROPORTIONAL:
            keep += ["points_property", "proportional_units", "proportional_points", "max_points_per_reward"]
        if custom_lifecycle:
            keep += ["activation", "expiry"]
            if activation == C.Activation.CUSTOM:
                keep += ["activation_value", "activation_unit"]
            if expiry == C.Expiry.ON_DATE:
                keep += ["expiry_at"]
            elif expiry == C.Expiry.CUSTOM:
                keep += ["expiry_days"]
        if live:
            keep += [*LIVE_POINTS_LIMITS, "max_per_user_month"]
            if ptype and ptype != C.PointsType.FLAT:
                keep += ["budget_per_user"]
    elif reward == C.RewardType.COUPON:
        keep += ["coupon_kind", "redemption_activation"]
        if coupon_kind in C.CouponKind.values:
            keep += ["coupon"]
        if redemption_activation == C.Activation.CUSTOM:
            keep += ["redemption_delay_value", "redemption_delay_unit"]
        if live:
            keep += LIVE_CODE_LIMITS
    elif reward == C.RewardType.VOUCHER:
        keep += ["partner"]
        if partner_offered:
            keep += ["voucher_list"]
        if live:
            keep += LIVE_CODE_LIMITS
    return keep


def random_range_errors(low: int | None, high: int | None) -> Errors:
    """Random points: Min ≤ Max, within the span the draw supports."""
    if low is None or high is None:
        return {}
    if high < low:
        return {"random_max": [MSG_RANDOM_ORDER]}
    if high - low + 1 > points.MAX_RANDOM_SPAN:
        return {"random_max": [MSG_RANDOM_SPAN]}
    return {}


def expiry_errors(expiry_at: datetime.datetime | None, *, now: datetime.datetime) -> Errors:
    """Points that expire on a date expire in the future."""
    return {"expiry_at": [MSG_FUTURE]} if expiry_at and expiry_at <= now else {}


def metadata_check(rows: list[tuple[str, str]]) -> tuple[dict, Errors]:
    """Metadata rows (key, value) as a dict: a value needs a key, a key appears once."""
    seen, errors = {}, {}
    for i, (key, value) in enumerate(rows):
        key = (key or "").strip()
        value = value or ""
        if not key:
            if value.strip():
                add(errors, f"metadata_key_{i}", MSG_VALUE_WITHOUT_KEY.format(row=i + 1))
            continue
        if key in seen:
            add(errors, f"metadata_key_{i}", MSG_DUPLICATE_KEY.format(key=key))
            continue
        seen[key] = value
    return seen, errors


def goal_check(goal_event: str, goal_window_value, rows: list[dict], known: dict) -> tuple[list, Errors]:
    """A conversion goal counts within a window, and its filters are properties of its event."""
    errors: Errors = {}
    if not goal_window_value:
        add(errors, "goal_window_value", MSG_GOAL_WINDOW)
    clean, problems = filter_rows_check(rows, event=goal_event, known=known)
    for j, message in problems:
        add(errors, "goal_filters", MSG_GOAL_FILTER_ROW.format(row=j + 1, message=message))
    return clean, errors


def _minute(value: datetime.datetime | None) -> datetime.datetime | None:
    """A saved time as the builder shows and reads it back: to the minute."""
    return value.replace(second=0, microsecond=0) if value else value


def stored_errors(campaign: Campaign, *, now: datetime.datetime) -> Errors:
    """The saved What section re-checked against the campaign's other sections and today's catalogue."""
    c = campaign
    errors: Errors = {}
    reward = c.reward_type
    check_choice(errors, "reward_type", reward, C.RewardType.values)
    numeric = numeric_trigger_properties(c) if reward == C.RewardType.POINTS else []
    partner_offered = bool(c.partner_id) and catalogue.active_partners().filter(pk=c.partner_id).exists()
    offered = fields_offered(
        reward=reward,
        live=c.is_live,
        points_type=c.points_type,
        offered_types=points_types(numeric),
        custom_lifecycle=c.custom_lifecycle,
        activation=c.activation or C.Activation.IMMEDIATE,
        expiry=c.expiry or C.Expiry.NEVER,
        coupon_kind=c.coupon_kind,
        redemption_activation=c.redemption_activation or C.Activation.IMMEDIATE,
        partner_offered=partner_offered,
    )
    choices = {
        "wallet": (c.wallet_id, lambda: catalogue.active_wallets()),
        "points_type": (c.points_type, lambda: points_types(numeric)),
        "random_favor": (c.random_favor, lambda: C.Favor.values),
        "points_property": (c.points_property, lambda: numeric),
        "activation": (c.activation or C.Activation.IMMEDIATE, lambda: C.Activation.values),
        "activation_unit": (c.activation_unit, lambda: C.DelayUnit.values),
        "expiry": (c.expiry or C.Expiry.NEVER, lambda: C.Expiry.values),
        "coupon_kind": (c.coupon_kind, lambda: C.CouponKind.values),
        "coupon": (c.coupon_id, lambda: catalogue.available_coupons(c.coupon_kind)),
        "redemption_activation": (c.redemption_activation or C.Activation.IMMEDIATE, lambda: C.Activation.values),
        "redemption_delay_unit": (c.redemption_delay_unit, lambda: [C.DelayUnit.HOURS, C.DelayUnit.DAYS]),
        "partner": (c.partner_id, lambda: catalogue.active_partners()),
        "voucher_list": (c.voucher_list_id, lambda: catalogue.usable_voucher_lists(c.partner)),
    }
    amounts = ["flat_points", "random_min", "random_max", "percentage", "proportional_units"]
    amounts += ["proportional_points", "activation_value", "expiry_at", "expiry_days", "redemption_delay_value"]
    for name in offered:
        if name in choices:
            value, allowed = choices[name]
            check_choice(errors, name, value, allowed())
        elif name in amounts:
            check_present(errors, name, getattr(c, name))
    if "random_max" in offered:
        merge(errors, random_range_errors(c.random_min, c.random_max))
    if "expiry_at" in offered:
        merge(errors, expiry_errors(_minute(c.expiry_at), now=now))
    merge(errors, _goal_errors(c))
    return errors


def _goal_errors(c: Campaign) -> Errors:
    errors: Errors = {}
    if not c.goal_event:
        return errors
    valid = check_choice(errors, "goal_event", c.goal_event, catalogue.event_names(), required=False)
    check_present(errors, "goal_window_value", c.goal_window_value)
    check_choice(errors, "goal_window_unit", c.goal_window_unit or C.GoalWindowUnit.DAYS, C.GoalWindowUnit.values)
    numeric = catalogue.event_numeric_properties(c.goal_event)
    check_choice(errors, "goal_value_property", c.goal_value_property, numeric, required=False)
    if valid:
        known = dict(catalogue.event_properties(c.goal_event))
        rows = stored_rows(c.goal_filters, known)
        merge(errors, goal_check(c.goal_event, c.goal_window_value, rows, known)[1])
    return errors
