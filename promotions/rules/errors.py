"""What the section rules share: errors keyed by field name, how a missing or no longer offered
choice reads (the words the builder's fields use: forms/fields.py takes them from FIELD_NAMES)."""

import re

Errors = dict[str, list[str]]

MSG_FUTURE = "Choose a time in the future."
MSG_NOT_OFFERED = "Choose {label} among those offered: the one sent is not available."

# What a message calls a field: "Enter the time of day (At).", never "Enter the at." The builder's
# fields take these names; a field not listed here is named by its label (forms/fields.py).
FIELD_NAMES = {
    # Start
    "name": "the campaign name",
    # Who
    "audience_source": "the audience",
    "segment": "the saved segment",
    "custom_list": "the custom list",
    "inaction_event_a": "event A",
    "inaction_event_b": "event B",
    "inaction_window_value": "the time frame",
    "inaction_window_unit": "the time frame's unit",
    # What
    "reward_type": "the reward",
    "wallet": "the wallet",
    "points_type": "the points type",
    "flat_points": "the points",
    "random_min": "the minimum points",
    "random_max": "the maximum points",
    "random_favor": "the probability favor",
    "points_property": "the event property",
    "percentage": "the percentage",
    "proportional_units": "the number of units (For every)",
    "proportional_points": "the points to give (Give)",
    "activation": "the activation",
    "activation_value": "the activation delay",
    "activation_unit": "the activation delay's unit",
    "expiry": "the expiry",
    "expiry_at": "the expiry date and time",
    "expiry_days": "the number of days after activation",
    "max_per_user_day": "the limit per day",
    "max_per_user_week": "the limit per week",
    "max_per_user_month": "the limit per month",
    "coupon_kind": "the coupon type",
    "coupon": "the coupon",
    "redemption_activation": "the redemption activation",
    "redemption_delay_value": "the redemption delay",
    "redemption_delay_unit": "the redemption delay's unit",
    "partner": "the code provider",
    "voucher_list": "the code snippet",
    "goal_event": "the conversion goal",
    "goal_window_value": "the goal window",
    "goal_window_unit": "the goal window's unit",
    "goal_value_property": "the sum as the goal's value",
    # When
    "delivery": "the delivery",
    "scheduled_at": "the send time",
    "frequency": "how often it repeats",
    "month_day": "the day of the month",
    "run_time": "the time of day (At)",
    "recurrence_start": "the first day (From)",
    "recurrence_end": "the last day (Until)",
    "live_start": "when the campaign starts",
    "starts_at": "the start time",
    "live_end": "when the campaign ends",
    "ends_at": "the end time",
}


def field_name(name: str) -> str:
    """The field's name in a message; "" when the field has none here (its label names it)."""
    trigger = re.fullmatch(r"trigger_event_(\d+)", name)
    if trigger:
        return f"trigger event {int(trigger.group(1)) + 1}"
    return FIELD_NAMES.get(name, "")


def add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def merge(errors: Errors, more: Errors) -> Errors:
    for field, messages in more.items():
        errors.setdefault(field, []).extend(messages)
    return errors


def check_present(errors: Errors, field: str, value) -> bool:
    """A required value the marketer types (a number, a date): "Enter …" when it is missing."""
    if value is None or value == "":
        add(errors, field, f"Enter {field_name(field)}.")
        return False
    return True


def check_choice(errors: Errors, field: str, value, offered, *, required: bool = True, message: str = "") -> bool:
    """A choice among those `offered` (values, or a queryset of the objects offered, `value` a pk)."""
    if value is None or value == "":
        if required:
            add(errors, field, f"Choose {field_name(field)}.")
        return False
    is_queryset = hasattr(offered, "filter")
    found = offered.filter(pk=value).exists() if is_queryset else str(value) in {str(v) for v in offered}
    if not found:
        add(errors, field, message or MSG_NOT_OFFERED.format(label=field_name(field)))
    return found
