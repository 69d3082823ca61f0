"""Property filter rows on the builder's screen (a trigger event's, the conversion goal's): the POST
names of their controls, and the "add a row" / "remove row j" actions applied to the posted values."""

import re

from promotions.rules.filters import FILTER_PARTS, MAX_TRIGGER_FILTERS


def filter_control(i: int, j: int, part: str) -> str:
    """The POST name of one control of trigger i's property filter j (e.g. "tf_0_1_operator")."""
    return f"tf_{i}_{j}_{part}"


def goal_filter_control(j: int, part: str) -> str:
    """The POST name of one control of the goal's property filter j (e.g. "gf_1_operator")."""
    return f"gf_{j}_{part}"


def refresh_goal_filters(initial: dict, refresh: str) -> None:
    """Apply an "add_goal_filter" / "remove_goal_filter_<j>" row action to the posted values, in place."""
    match = re.fullmatch(r"(add|remove)_goal_filter(?:_(\d+))?", refresh or "")
    if not match:
        return
    try:
        count = max(0, min(MAX_TRIGGER_FILTERS, int(initial.get("goal_filter_count") or 0)))
    except ValueError:
        count = 0
    if match.group(1) == "add":
        initial["goal_filter_count"] = str(min(MAX_TRIGGER_FILTERS, count + 1))
        return
    if match.group(2) is None or int(match.group(2)) >= count:
        return
    for j in range(int(match.group(2)), count - 1):
        for part in FILTER_PARTS:
            initial[goal_filter_control(j, part)] = initial.get(goal_filter_control(j + 1, part), "")
    for part in FILTER_PARTS:
        initial.pop(goal_filter_control(count - 1, part), None)
    initial["goal_filter_count"] = str(count - 1)


def refresh_trigger_filters(initial: dict, refresh: str) -> None:
    """Apply an "add_filter_<i>" / "remove_filter_<i>_<j>" row action to the posted values, in place."""
    match = re.fullmatch(r"(add|remove)_filter_(\d+)(?:_(\d+))?", refresh or "")
    if not match:
        return
    i = int(match.group(2))
    try:
        count = int(initial.get(f"trigger_filter_count_{i}") or 0)
    except ValueError:
        count = 0
    count = max(0, min(MAX_TRIGGER_FILTERS, count))
    if match.group(1) == "add":
        initial[f"trigger_filter_count_{i}"] = str(min(MAX_TRIGGER_FILTERS, count + 1))
        return
    if match.group(3) is None or int(match.group(3)) >= count:
        return
    for j in range(int(match.group(3)), count - 1):
        for part in FILTER_PARTS:
            initial[filter_control(i, j, part)] = initial.get(filter_control(i, j + 1, part), "")
    for part in FILTER_PARTS:
        initial.pop(filter_control(i, count - 1, part), None)
    initial[f"trigger_filter_count_{i}"] = str(count - 1)
