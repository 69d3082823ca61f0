"""Rule trees in words, for the summaries a marketer reviews before publishing (issue #16).

"Did Charged at least once in the last 30 days, where Amount > 1000, and City is Pune": every rule
and filter of the tree, in the order the builder shows them, with the names of the segments and
custom lists it refers to (looked up in one query each, however many rules name them).
"""

from segments.models import CustomList, Segment

COMPARISONS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "greater_than": ">",
    "less_than": "<",
}
AGG_COMPARISONS = {"at_least": "at least", "at_most": "at most", "equals": "exactly", "between": "between"}
AGG_NAMES = {"sum": "total", "avg": "average"}


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def window_in_words(window: dict | None) -> str:
    """ " in the last 30 days", " on 2026-01-05", or "" for any time."""
    window = window or {"type": "ever"}
    kind = window.get("type", "ever")
    if kind == "ever":
        return ""
    if kind == "last":
        amount, unit = window.get("amount"), str(window.get("unit", ""))
        if amount == 1:
            unit = unit.rstrip("s")
        return f" in the last {amount} {unit}"
    if kind == "exactly_ago":
        return f" exactly {window.get('amount')} days ago"
    if kind == "between":
        return f" between {window.get('date')} and {window.get('date2')}"
    return f" {kind} {window.get('date')}"


def filter_in_words(f: dict) -> str:
    """ "Amount > 1000", "City is Pune", "Coupon is set"."""
    prop, op = f.get("property", "?"), f.get("operator", "")
    if op == "exists":
        return f"{prop} is set"
    if op == "not_exists":
        return f"{prop} is not set"
    if op == "between":
        return f"{prop} is between {_value(f.get('value'))} and {_value(f.get('value2'))}"
    return f"{prop} {COMPARISONS.get(op, op)} {_value(f.get('value'))}"


def filters_in_words(filters) -> str:
    """ ", where Amount > 1000 and Payment Mode is UPI", or "" without filters."""
    filters = [f for f in filters or [] if isinstance(f, dict)]
    if not filters:
        return ""
    return ", where " + " and ".join(filter_in_words(f) for f in filters)


def _names(tree) -> tuple[dict, dict]:
    segment_ids, list_ids = set(), set()

    def visit(node):
        if not isinstance(node, dict):
            return
        for child in node.get("rules") or []:
            visit(child)
        if node.get("segment_id") is not None:
            segment_ids.add(node["segment_id"])
        if node.get("custom_list_id") is not None:
            list_ids.add(node["custom_list_id"])

    visit(tree)
    segments = dict(Segment.objects.filter(pk__in=segment_ids).values_list("pk", "name")) if segment_ids else {}
    lists = dict(CustomList.objects.filter(pk__in=list_ids).values_list("pk", "name")) if list_ids else {}
    return segments, lists


def _did(rule: dict) -> str:
    event, window = rule.get("event", "?"), window_in_words(rule.get("window"))
    agg = rule.get("aggregate")
    if not agg:
        return f"Did {event} at least once{window}{filters_in_words(rule.get('filters'))}"
    bound = _value(agg.get("value")) + (f" and {_value(agg.get('value2'))}" if agg.get("operator") == "between" else "")
    comparison = AGG_COMPARISONS.get(agg.get("operator"), agg.get("operator"))
    if agg.get("function") == "count":
        return f"Did {event} {comparison} {bound} times{window}{filters_in_words(rule.get('filters'))}"
    name = AGG_NAMES.get(agg.get("function"), agg.get("function"))
    return (
        f"Did {event}{window}{filters_in_words(rule.get('filters'))}, "
        f"with {name} {agg.get('property')} {comparison} {bound}"
    )


def _rule(rule: dict, names: tuple[dict, dict], nested: bool) -> str:
    if "rules" in rule:
        text = _group(rule, names)
        return f"({text})" if nested else text
    segments, lists = names
    kind = rule.get("type")
    if kind == "did":
        return _did(rule)
    if kind == "did_not":
        window, filters = window_in_words(rule.get("window")), filters_in_words(rule.get("filters"))
        return f"Did not do {rule.get('event')}{window}{filters}"
    if kind == "did_any":
        return f"Did any of {', '.join(rule.get('events') or [])}{window_in_words(rule.get('window'))}"
    if kind == "user_property":
        return filter_in_words(rule)
    if kind == "interest":
        how = "mostly" if rule.get("mode") == "predominant" else f"at least {rule.get('percent')}% of the time"
        return (
            f"{rule.get('property')} of {rule.get('event')} is {how} {_value(rule.get('value'))}"
            f"{window_in_words(rule.get('window'))}"
        )
    if kind in ("in_segment", "not_in_segment"):
        name = segments.get(rule.get("segment_id"), "a deleted segment")
        return f"{'In' if kind == 'in_segment' else 'Not in'} segment {name}"
    if kind in ("in_custom_list", "not_in_custom_list"):
        name = lists.get(rule.get("custom_list_id"), "a deleted list")
        return f"{'In' if kind == 'in_custom_list' else 'Not in'} custom list {name}"
    if kind == "constant_property":
        did = rule.get("did") or {}
        second_key = "did_not" if "did_not" in rule else "did_also"
        second = rule.get(second_key) or {}
        verb = "did not do" if second_key == "did_not" else "also did"
        return (
            f"Did {did.get('event')}{window_in_words(did.get('window'))}{filters_in_words(did.get('filters'))} "
            f"and {verb} {second.get('event')}{window_in_words(second.get('window'))} "
            f"with the same {rule.get('property')}"
        )
    return str(kind)


def _group(tree: dict, names) -> str:
    joiner = ", or " if tree.get("op") == "or" else ", and "
    return joiner.join(_rule(r, names, nested=True) for r in tree.get("rules") or [] if isinstance(r, dict))


def rules_in_words(tree) -> str:
    """The whole tree as one sentence; "" for an empty or missing tree."""
    if not isinstance(tree, dict):
        return ""
    if "rules" not in tree and "type" in tree:
        tree = {"op": "and", "rules": [tree]}
    return _group(tree, _names(tree))
