"""A rule or group, a time window and an event filter described in words."""

from segments.models import CustomList, Segment
from segments.rules.vocabulary import AGG_FUNCTIONS, AGG_OPERATORS, OPERATORS, RULE_TYPES


def describe_window(window: dict) -> str:
    kind = window.get("type", "ever")
    if kind == "ever":
        return "at any time"
    if kind == "last":
        return f"in the last {window['amount']} {window['unit']}"
    if kind == "exactly_ago":
        return f"exactly {window['amount']} days ago"
    if kind == "between":
        return f"between {window['date']} and {window['date2']}"
    return f"{kind} {window['date']}"


def describe_filter(f: dict) -> str:
    op = OPERATORS[f["operator"]]
    if f["operator"] in ("exists", "not_exists"):
        return f"{f['property']} {op}"
    if f["operator"] == "between":
        return f"{f['property']} between {f['value']} and {f['value2']}"
    return f"{f['property']} {op} {f['value']}"


def describe(rule: dict) -> str:
    """A one-line human description of a rule or group."""
    if "rules" in rule:
        joiner = f" {rule['op'].upper()} "
        return "(" + joiner.join(describe(r) for r in rule["rules"]) + ")"
    kind = rule["type"]
    if kind in ("did", "did_not"):
        text = f"{'Did' if kind == 'did' else 'Did not do'} {rule['event']} {describe_window(rule['window'])}"
        if rule.get("filters"):
            text += " where " + " and ".join(describe_filter(f) for f in rule["filters"])
        agg = rule.get("aggregate")
        if agg:
            what = "count" if agg["function"] == "count" else f"{AGG_FUNCTIONS[agg['function']]} {agg['property']}"
            bound = f"{agg['value']}" + (f" and {agg['value2']}" if agg["operator"] == "between" else "")
            text += f", {what} {AGG_OPERATORS[agg['operator']]} {bound}"
        return text
    if kind == "did_any":
        return f"Did any of {', '.join(rule['events'])} {describe_window(rule['window'])}"
    if kind == "user_property":
        return "User property " + describe_filter(rule)
    if kind == "interest":
        how = "predominantly" if rule["mode"] == "predominant" else f"at least {rule['percent']}%"
        return f"Interest: {rule['property']} of {rule['event']} is {how} {rule['value']}"
    if kind in ("in_segment", "not_in_segment"):
        name = Segment.objects.filter(pk=rule["segment_id"]).values_list("name", flat=True).first() or "?"
        return f"{RULE_TYPES[kind]} {name}"
    if kind in ("in_custom_list", "not_in_custom_list"):
        name = CustomList.objects.filter(pk=rule["custom_list_id"]).values_list("name", flat=True).first() or "?"
        return f"{RULE_TYPES[kind]} {name}"
    second_key = "did_not" if "did_not" in rule else "did_also"
    verb = "did not do" if second_key == "did_not" else "also did"
    return (
        f"Same {rule['property']}: did {rule['did']['event']} {describe_window(rule['did']['window'])} "
        f"and {verb} {rule[second_key]['event']} {describe_window(rule[second_key]['window'])}"
    )
