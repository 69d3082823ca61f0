"""The campaign in words, section by section: the one summary the builder's Publish section, the
campaign page and the API's campaign detail all show."""

from django.utils import formats, timezone

from accounts.account import timezone_label
from promotions import catalogue
from promotions.models import Campaign
from segments import wording

C = Campaign
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _dt(value) -> str:
    return formats.date_format(timezone.localtime(value), "j M Y, H:i") if value else "—"


def _dt_tz(value) -> str:
    """A date and time in the account timezone, labelled with it (SPEC 1)."""
    if not value:
        return "—"
    return f"{_dt(value)} {timezone_label(timezone.get_current_timezone(), value)}"


def _num(value) -> str:
    """A number as the pages show numbers: thousands separators, no trailing zeros (50,000, 12.5)."""
    if value is None:
        return "—"
    return f"{value.normalize():,f}" if hasattr(value, "normalize") else f"{value:,}"


def live_filter_estimate(campaign: Campaign) -> int | None:
    """How many profiles a live campaign's past-behaviour filter lets through today (≈)."""
    if not campaign.past_filter:
        return None
    return catalogue.audience_estimate(
        Campaign(qualification=C.Qualification.PAST_BEHAVIOR, rules=campaign.past_filter)
    )


def _outcome_rows(c: Campaign) -> list[tuple[str, str]]:
    """The goal and holdout in words (issue #19); nothing when neither is set."""
    from segments.rules import describe_filter

    rows = []
    if c.goal_event:
        goal = c.goal_event
        if c.goal_filters:
            goal += " where " + " and ".join(describe_filter(f) for f in c.goal_filters)
        if c.goal_window_value and c.goal_window_unit:
            goal += f", within {c.goal_window_value} {c.get_goal_window_unit_display().lower()} of qualifying"
        if c.goal_value_property:
            goal += f"; value: sum of {c.goal_value_property}"
        rows.append(("Conversion goal", goal))
    if c.holdout_percent:
        rows.append(("Holdout", f"{c.holdout_percent} % of qualifying profiles are not rewarded"))
    return rows


def campaign_summary(campaign: Campaign) -> dict[str, list[tuple[str, str]]]:
    """Section → (label, value) rows: what the Publish section and the detail page show."""
    c = campaign
    start = [("Name", c.name or "—"), ("Type", C.Qualification(c.qualification).label)]
    if c.description:
        start.append(("Description", c.description))

    who = []
    if c.qualification in (C.Qualification.PAST_BEHAVIOR, C.Qualification.CUSTOM_LIST):
        if c.audience_source == C.AudienceSource.SEGMENT and c.segment_id:
            who.append(("Saved segment", c.segment.name))
            if c.segment.rules:
                who.append(("Rules", wording.rules_in_words(c.segment.rules)))
        elif c.audience_source == C.AudienceSource.CUSTOM_LIST and c.custom_list_id:
            who.append(("Custom list", c.custom_list.name))
        elif c.audience_source == C.AudienceSource.RULES:
            who.append(("Rules", wording.rules_in_words(c.rules) or "—"))
        estimate = catalogue.audience_estimate(c) if c.who_complete else None
        if estimate is not None:
            who.append(("Estimated audience", f"≈ {estimate:,} profile{'' if estimate == 1 else 's'}"))
    elif c.qualification == C.Qualification.LIVE_ACTION:
        for i, trigger in enumerate(c.triggers or [], start=1):
            text = f"{trigger.get('event', '')}{wording.filters_in_words(trigger.get('filters'))}"
            who.append((f"Trigger event {i}", text))
    else:
        if c.inaction_event_a:
            unit = C.WindowUnit(c.inaction_window_unit).label.lower() if c.inaction_window_unit else ""
            who.append(("Does", c.inaction_event_a))
            who.append(("Does not do", f"{c.inaction_event_b} within {c.inaction_window_value} {unit}"))
        if c.constant_property:
            who.append(("Constant property", f"the same {c.constant_property} in both events"))
    if c.is_live and c.past_filter:
        who.append(("Past-behavior filter", wording.rules_in_words(c.past_filter)))
        estimate = live_filter_estimate(c) if c.who_complete else None
        if estimate is not None:
            who.append(("Profiles passing the filter now", f"≈ {estimate:,}"))

    what = []
    if c.reward_type:
        what.append(("Reward", C.RewardType(c.reward_type).label))
        if c.reward_type == C.RewardType.POINTS and c.wallet_id:
            what.append(("Wallet", str(c.wallet)))
            what.append(("Points", c.reward_label))
            if c.points_type == C.PointsType.RANDOM:
                what.append(("Favor", C.Favor(c.random_favor).label if c.random_favor else "—"))
            if c.points_type == C.PointsType.PROPORTIONAL:
                what.append(("Rate", f"{_num(c.proportional_points)} for every {_num(c.proportional_units)}"))
            if c.max_points_per_reward:
                what.append(("Max points per reward", _num(c.max_points_per_reward)))
            if c.custom_lifecycle:
                act = "Immediate"
                if c.activation == C.Activation.CUSTOM:
                    act = f"After {c.activation_value} {c.activation_unit}"
                exp = C.Expiry(c.expiry).label
                if c.expiry == C.Expiry.ON_DATE:
                    exp = _dt_tz(c.expiry_at)
                elif c.expiry == C.Expiry.CUSTOM:
                    exp = f"{c.expiry_days} days after activation"
                what.append(("Lifecycle", f"Activation: {act}; expiry: {exp}"))
            else:
                what.append(("Lifecycle", "Wallet defaults"))
            if c.budget_campaign:
                what.append(("Campaign budget", _num(c.budget_campaign)))
            if c.budget_per_user:
                what.append(("Per-user budget", _num(c.budget_per_user)))
            limits = [
                f"{n} {label}"
                for n, label in (
                    (c.max_per_user_total, "in total"),
                    (c.max_per_user_day, "per day"),
                    (c.max_per_user_week, "per week"),
                    (c.max_per_user_month, "per month"),
                )
                if n
            ]
            if limits:
                what.append(("Reward recurrence", ", ".join(limits)))
            if c.metadata:
                what.append(("Metadata", ", ".join(f"{k}={v}" for k, v in c.metadata.items())))
        elif c.reward_type == C.RewardType.COUPON and c.coupon_id:
            what.append(("Coupon", c.reward_label))
            delay = "Immediate"
            if c.redemption_activation == C.Activation.CUSTOM:
                delay = f"After {c.redemption_delay_value} {c.redemption_delay_unit}"
            what.append(("Redemption activation", delay))
        elif c.reward_type == C.RewardType.VOUCHER and c.voucher_list_id:
            if c.partner_id:
                what.append(("Code provider", c.partner.name))
            what.append(("Code snippet", c.reward_label))
        if c.max_codes_per_user:
            what.append(("Max per user", str(c.max_codes_per_user)))
        if c.max_codes_per_campaign:
            what.append(("Max per campaign", str(c.max_codes_per_campaign)))
        what += _outcome_rows(c)

    when = []
    tz = timezone.get_current_timezone()
    if c.is_live and c.live_start:
        when.append(("Start", "Now" if c.live_start == C.LiveStart.NOW else _dt_tz(c.starts_at)))
        when.append(("End", "Never" if c.live_end == C.LiveEnd.NEVER else _dt_tz(c.ends_at)))
    elif c.delivery == C.Delivery.NOW:
        when.append(("Delivery", f"Send now {timezone_label(tz)}"))
    elif c.delivery == C.Delivery.LATER:
        when.append(("Delivery", f"Scheduled for {_dt(c.scheduled_at)} {timezone_label(tz, c.scheduled_at)}"))
    elif c.delivery == C.Delivery.RECURRING:
        rule = C.Frequency(c.frequency).label
        if c.frequency == C.Frequency.WEEKLY:
            rule += " on " + ", ".join(WEEKDAY_NAMES[d] for d in c.weekdays)
        elif c.frequency == C.Frequency.MONTHLY:
            rule += f" on day {c.month_day}"
        rule += f" at {c.run_time:%H:%M}" if c.run_time else ""
        when.append(("Recurring", rule))
        period = f"From {c.recurrence_start:%d %b %Y}" if c.recurrence_start else ""
        period += f" until {c.recurrence_end:%d %b %Y}" if c.recurrence_end else ", no end date"
        when.append(("Period", period))
        when.append(("Reward again on later runs", "Yes" if c.reward_again else "No"))
    return {"start": start, "who": who, "what": what, "when": when}
