"""What the rule_builder template draws: the rows of a tree with their options and messages."""

import json

from accounts import dates
from accounts.account import account_tzinfo, timezone_label
from segments import rules as R
from segments import selectors
from segments.builder.controls import PREFIX, SECOND_SIDES, WINDOW_DATE_TYPES, tree_depth
from segments.builder.errors import errors_by_row
from segments.models import Segment


class Catalogue:
    """The event and profile catalogue, read once per render."""

    def __init__(self):
        self._events = None
        self._event_props: dict[str, list] = {}
        self._profile_props = None

    def events(self) -> list[str]:
        if self._events is None:
            self._events = selectors.event_names()
        return self._events

    def event_props(self, name: str) -> list[tuple[str, str]]:
        if not name:
            return []
        if name not in self._event_props:
            self._event_props[name] = selectors.event_properties(event_name=name)
        return self._event_props[name]

    def profile_props(self) -> list[tuple[str, str]]:
        if self._profile_props is None:
            self._profile_props = selectors.profile_properties()
        return self._profile_props


def _s(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_current(options: list[str], current: str) -> list[str]:
    return options if not current or current in options else [*options, current]


def _window_vm(window, prefix: str) -> dict:
    window = window if isinstance(window, dict) else {"type": "ever"}
    kind = window.get("type") if window.get("type") in R.WINDOW_TYPES else "ever"
    return {
        "prefix": prefix,
        "id": prefix.replace(".", "-"),
        "type": kind,
        "amount": _s(window.get("amount")),
        "unit": window.get("unit") or "days",
        "date": dates.date_display(_s(window.get("date"))),
        "date2": dates.date_display(_s(window.get("date2"))),
        "has_amount": kind in ("last", "exactly_ago"),
        "has_unit": kind == "last",
        "has_date": kind in WINDOW_DATE_TYPES,
        "has_date2": kind == "between",
        "date_placeholder": dates.PLACEHOLDER,
    }


def _filter_vm(node: dict, prefix: str, props: list[tuple[str, str]]) -> dict:
    prop = _s(node.get("property"))
    types = dict(props)
    value_type = (
        node.get("value_type") or types.get(prop) or R.infer_type(node.get("value"), node.get("operator") or "")
    )
    value_type = value_type if value_type in R.VALUE_TYPES else "string"
    operators = R.OPERATORS_BY_TYPE[value_type]
    operator = node.get("operator") if node.get("operator") in operators else operators[0]
    return {
        "prefix": prefix,
        "id": prefix.replace(".", "-"),
        "property": prop,
        "properties": _with_current([n for n, _ in props], prop),
        "value_type": value_type,
        "operator": operator,
        "operators": [(o, R.OPERATORS[o]) for o in operators],
        "value": dates.date_display(_s(node.get("value"))) if value_type == "date" else _s(node.get("value")),
        "value2": dates.date_display(_s(node.get("value2"))) if value_type == "date" else _s(node.get("value2")),
        "has_value": operator not in ("exists", "not_exists"),
        "has_value2": operator == "between",
        # Dates in a text input in the app's format, with a calendar button (accounts/dates.py).
        "input_type": {"number": "number"}.get(value_type, "text"),
        "is_date": value_type == "date",
        "date_placeholder": dates.PLACEHOLDER,
    }


def filter_vm(node: dict, prefix: str, props: list[tuple[str, str]]) -> dict:
    """One property filter's controls (property, operator, value) for other builders to draw."""
    return _filter_vm(node, prefix, props)


def _side_vm(side, prefix: str, catalogue: Catalogue) -> dict:
    side = side if isinstance(side, dict) else {}
    event = _s(side.get("event"))
    props = catalogue.event_props(event)
    filters = side.get("filters") if isinstance(side.get("filters"), list) else []
    return {
        "prefix": prefix,
        "id": prefix.replace(".", "-"),
        "event": event,
        "events": _with_current(catalogue.events(), event),
        "window": _window_vm(side.get("window"), f"{prefix}.window"),
        "filters": [
            _filter_vm(f, f"{prefix}.filters.{i}", props) for i, f in enumerate(filters) if isinstance(f, dict)
        ],
        "props": props,
    }


def _rule_vm(rule, prefix: str, label: str, errors: dict, catalogue: Catalogue, options: dict, depth: int):
    rule = rule if isinstance(rule, dict) else {}
    row = {"prefix": prefix, "id": prefix.replace(".", "-"), "label": label, "errors": errors.get(label, [])}
    if rule.get("type", "group") == "group" and isinstance(rule.get("rules"), list):
        row.update(
            is_group=True,
            op=rule.get("op") if rule.get("op") in R.OPS else "and",
            children=[
                _rule_vm(child, f"{prefix}.rules.{i}", f"{label}.{i + 1}", errors, catalogue, options, depth + 1)
                for i, child in enumerate(rule["rules"])
            ],
        )
        # errors of nested rows live with those rows; keep only the group's own here
        return row
    kind = rule.get("type") if rule.get("type") in R.RULE_TYPES else "did"
    row.update(type=kind, is_group=False)
    if kind in ("did", "did_not", "interest"):
        row.update(_side_vm(rule, prefix, catalogue))
        row["prefix"], row["id"] = prefix, prefix.replace(".", "-")
    if kind == "did":
        aggregate = rule.get("aggregate") if isinstance(rule.get("aggregate"), dict) else {}
        numeric = [n for n, t in row["props"] if t == "number"]
        row["aggregate"] = {
            "function": aggregate.get("function") if aggregate.get("function") in R.AGG_FUNCTIONS else "",
            "property": _s(aggregate.get("property")),
            "properties": _with_current(numeric, _s(aggregate.get("property"))),
            "operator": aggregate.get("operator") if aggregate.get("operator") in R.AGG_OPERATORS else "at_least",
            "value": _s(aggregate.get("value")),
            "value2": _s(aggregate.get("value2")),
            "include_zero": bool(aggregate.get("include_zero")),
        }
    elif kind == "did_any":
        chosen = (
            [e for e in rule.get("events") or [] if isinstance(e, str)] if isinstance(rule.get("events"), list) else []
        )
        row["chosen"] = chosen
        row["events"] = catalogue.events() + [e for e in chosen if e not in catalogue.events()]
        row["window"] = _window_vm(rule.get("window"), f"{prefix}.window")
    elif kind == "user_property":
        row["filter"] = _filter_vm(rule, prefix, catalogue.profile_props())
    elif kind == "interest":
        prop = _s(rule.get("property"))
        row.update(
            property=prop,
            properties=_with_current([n for n, _ in row["props"]], prop),
            value=_s(rule.get("value")),
            mode=rule.get("mode") if rule.get("mode") in R.INTEREST_MODES else "predominant",
            percent=_s(rule.get("percent")),
        )
    elif kind in ("in_segment", "not_in_segment"):
        row["chosen"] = _s(rule.get("segment_id"))
        row["choices"] = options["segments"]
    elif kind in ("in_custom_list", "not_in_custom_list"):
        row["chosen"] = _s(rule.get("custom_list_id"))
        row["choices"] = options["custom_lists"]
    elif kind == "constant_property":
        second = "did_also" if "did_also" in rule and "did_not" not in rule else "did_not"
        first = _side_vm(rule.get("did"), f"{prefix}.did", catalogue)
        prop = _s(rule.get("property"))
        row.update(
            property=prop,
            properties=_with_current([n for n, _ in first["props"]], prop),
            did=first,
            second=second,
            side2=_side_vm(rule.get(second), f"{prefix}.side2", catalogue),
        )
    return row


def builder_vm(
    *, tree, raw_json: str = "", errors=None, new_row: str | None = None, json_error: str = "", optional: bool = False
) -> dict:
    """Everything the rule_builder template needs to draw `tree` (None: the JSON did not parse).

    `optional`: the tree may stay empty (a live campaign's past-behaviour filter): it starts without a
    row and the live estimate says nothing while it has no rule."""
    by_row, general = errors_by_row(errors)
    catalogue = Catalogue()
    options = {
        "segments": [(str(pk), name) for pk, name in Segment.objects.order_by("name").values_list("pk", "name")],
        "custom_lists": [(str(pk), n) for pk, n in selectors.custom_lists_usable().values_list("pk", "name")],
    }
    visual = isinstance(tree, dict) and isinstance(tree.get("rules", []), list) and tree_depth(tree) <= 2
    rows = []
    if visual:
        if new_row:
            label = ".".join(str(int(p) + 1) for p in new_row.split(".")[2::2])
            by_row.pop(label, None)
        rows = [
            _rule_vm(rule, f"{PREFIX}.rules.{i}", str(i + 1), by_row, catalogue, options, 1)
            for i, rule in enumerate(tree.get("rules") or [])
        ]
        shown = set()

        def collect(rs):
            for r in rs:
                shown.add(r["label"])
                collect(r.get("children") or [])

        collect(rows)
        general += [m for label, ms in by_row.items() if label not in shown for m in ms]
    if raw_json == "" and isinstance(tree, dict):
        raw_json = json.dumps(tree)
    return {
        "visual": visual,
        "optional": optional,
        "op": (tree or {}).get("op") if isinstance(tree, dict) and tree.get("op") in R.OPS else "and",
        "rows": rows,
        "errors": general,
        "rules_json": raw_json,
        "pretty_json": json.dumps(tree, indent=1) if isinstance(tree, dict) else raw_json,
        "json_error": json_error,
        "json_open": bool(json_error) or not visual,
        "rule_types": list(R.RULE_TYPES.items()),
        "ops": [("and", "all"), ("or", "any")],
        "window_types": list(R.WINDOW_TYPES.items()),
        "units": R.UNITS,
        "value_types": R.VALUE_TYPES,
        "agg_functions": list(R.AGG_FUNCTIONS.items()),
        "agg_operators": list(R.AGG_OPERATORS.items()),
        "second_sides": list(SECOND_SIDES.items()),
        "timezone": timezone_label(account_tzinfo()),
    }
