"""The visual rule builder: controls <-> rule tree (shape in segments/rules.py), and its view-model.

Every control of the builder is named by its path in the tree under the prefix "rb", e.g.
`rb.op`, `rb.rules.0.type`, `rb.rules.0.window.amount`, `rb.rules.1.rules.0.filters.2.value`;
multi-value controls end in "[]" (`rb.rules.0.events[]`). `tree_from_controls` turns posted
controls back into a tree; static/segments/rule_builder.js does the same in the browser to keep the
hidden `rules` input current. The only non-generic parts: a constant-property rule's second side is
posted as `side2` with its kind in `second` ("did_not" | "did_also"), and an aggregate whose
function is empty is dropped.
"""

import copy
import json
import re

from django.core.exceptions import ValidationError

from config import dates
from config.account import account_tzinfo, timezone_label
from segments import rules as R
from segments import selectors
from segments.models import Segment

PREFIX = "rb"
NEW_RULE = {"type": "did", "event": "", "window": {"type": "ever"}, "filters": []}
NEW_FILTER = {"property": "", "operator": "equals", "value": "", "value_type": "string"}
RULE_TYPES_WITH_EVENT = ("did", "did_not", "interest")
RULE_TYPES_WITH_WINDOW = ("did", "did_not", "did_any", "interest")
SECOND_SIDES = {"did_not": "and did not do", "did_also": "and also did"}
WINDOW_DATE_TYPES = ("between", "before", "after", "on")
ERROR_PATH = re.compile(r"^Rule (\d+(?:\.\d+)*)")


# --- controls -> tree ---------------------------------------------------------------------


def _set(root: dict, parts: list[str], value) -> None:
    node = root
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            return
    node[parts[-1]] = value


def _listify(node):
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    elif isinstance(node, list):
        return [_listify(v) for v in node]
    return node


def _finalise(node):
    if isinstance(node, list):
        return [_finalise(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _finalise(v) for k, v in node.items()}
    if "second" in node or "side2" in node:
        second = node.pop("second", "did_not")
        node[second if second in SECOND_SIDES else "did_not"] = node.pop("side2", {})
    aggregate = node.get("aggregate")
    if isinstance(aggregate, dict) and not aggregate.get("function"):
        node.pop("aggregate")
    if "include_zero" in node:
        node["include_zero"] = bool(node["include_zero"])
    # Dates are typed as the app shows them ("4 Dec 2026"); the rules store ISO (config/dates.py).
    for key in ("date", "date2"):
        if isinstance(node.get(key), str):
            node[key] = dates.date_iso(node[key])
    if node.get("value_type") == "date":
        for key in ("value", "value2"):
            if isinstance(node.get(key), str):
                node[key] = dates.date_iso(node[key])
    return node


def tree_from_controls(data) -> dict | None:
    """The rule tree the posted controls describe (None when no control was posted)."""
    root: dict = {}
    found = False
    for key in data:
        if not key.startswith(PREFIX + "."):
            continue
        found = True
        if key.endswith("[]"):
            _set(root, key[len(PREFIX) + 1 : -2].split("."), [v for v in data.getlist(key) if v != ""])
        else:
            _set(root, key[len(PREFIX) + 1 :].split("."), data.get(key))
    if not found:
        return None
    tree = _finalise(_listify(root))
    if not isinstance(tree.get("rules"), list):
        tree["rules"] = []
    tree.setdefault("op", "and")
    return tree


def tree_from_json(raw) -> dict | None:
    """The tree in a JSON string or dict, or None when it is not a JSON object."""
    if isinstance(raw, dict):
        return raw
    if not raw or not str(raw).strip():
        return {"op": "and", "rules": []}
    try:
        tree = json.loads(raw)
    except ValueError:
        return None
    return tree if isinstance(tree, dict) else None


# --- structural actions --------------------------------------------------------------------


def _resolve(tree, path: str):
    """(parent, key) of the node at a control path like "rb.rules.1.filters.0"."""
    parts = path.split(".")
    if not parts or parts[0] != PREFIX or len(parts) < 2:
        return None, None
    node = tree
    for part in parts[1:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None, None
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            return None, None
        return node, int(last)
    if isinstance(node, dict):
        return node, last
    return None, None


def _real_path(tree, path: str) -> str:
    """Map a control path through a constant-property rule's `side2` to its real key."""
    while ".side2" in path:
        head, tail = path.split(".side2", 1)
        parent, key = _resolve(tree, head)
        rule = parent[key] if parent is not None else None
        second = "did_also" if isinstance(rule, dict) and "did_also" in rule and "did_not" not in rule else "did_not"
        path = f"{head}.{second}{tail}"
    return path


def _get(tree, path: str):
    if path == PREFIX:
        return tree
    parent, key = _resolve(tree, _real_path(tree, path))
    if parent is None:
        return None
    try:
        return parent[key]
    except (KeyError, IndexError):
        return None


def apply_action(tree: dict, action: str) -> str | None:
    """Apply one builder action in place; returns the control path of a newly added rule, if any."""
    verb, _, path = action.partition(":")
    path = _real_path(tree, path)
    if verb in ("add", "add_group", "add_in"):
        group = tree if verb != "add_in" else _get(tree, path)
        if not isinstance(group, dict) or not isinstance(group.get("rules"), list):
            return None
        base = path if verb == "add_in" else PREFIX
        if verb == "add_group":
            group["rules"].append({"type": "group", "op": "or", "rules": [copy.deepcopy(NEW_RULE)]})
        else:
            group["rules"].append(copy.deepcopy(NEW_RULE))
        return f"{base}.rules.{len(group['rules']) - 1}"
    if verb == "remove":
        parent, key = _resolve(tree, path)
        if isinstance(parent, list):
            parent.pop(key)
    elif verb == "add_filter":
        node = _get(tree, path)
        if isinstance(node, dict):
            if not isinstance(node.get("filters"), list):
                node["filters"] = []
            node["filters"].append(copy.deepcopy(NEW_FILTER))
    return None


def apply_change(tree: dict, changed: str, catalogue: "Catalogue") -> None:
    """Keep the tree coherent after the control `changed` took a new value."""
    changed = _real_path(tree, changed)
    parent, key = _resolve(tree, changed)
    if not isinstance(parent, dict):
        return
    if key == "type" and "op" not in parent:
        kind = parent.get("type")
        kept = {"type": kind}
        if kind in RULE_TYPES_WITH_EVENT and parent.get("event"):
            kept["event"] = parent["event"]
        if kind in RULE_TYPES_WITH_WINDOW:
            kept["window"] = parent.get("window") or {"type": "ever"}
        if kind == "constant_property":
            side = {"event": parent.get("event") or "", "window": parent.get("window") or {"type": "ever"}}
            kept.update(property="", did=side, did_not={"event": "", "window": {"type": "ever"}})
        parent.clear()
        parent.update(kept)
    elif key == "event":
        names = {n for n, _ in catalogue.event_props(parent.get("event") or "")}
        for f in parent.get("filters") or []:
            if isinstance(f, dict) and f.get("property") not in names:
                f["property"] = ""
        aggregate = parent.get("aggregate")
        if isinstance(aggregate, dict) and aggregate.get("property") not in names:
            aggregate["property"] = ""
        if parent.get("type") == "interest" and parent.get("property") not in names:
            parent["property"] = ""
    elif key == "property" and "operator" in parent:
        props = dict(catalogue.profile_props() if parent.get("type") == "user_property" else [])
        if parent.get("type") != "user_property":
            owner = _get(tree, changed.rsplit(".", 3)[0])
            props = dict(catalogue.event_props((owner or {}).get("event") or ""))
        if props.get(parent.get("property")) in R.VALUE_TYPES:
            parent["value_type"] = props[parent["property"]]
        _fix_operator(parent)
    elif key == "value_type":
        _fix_operator(parent)


def _fix_operator(node: dict) -> None:
    valid = R.OPERATORS_BY_TYPE.get(node.get("value_type") or "string", R.OPERATORS_BY_TYPE["string"])
    if node.get("operator") not in valid:
        node["operator"] = valid[0]


# --- errors ---------------------------------------------------------------------------------


def validation_errors(tree) -> list[str]:
    try:
        R.validate_rules(tree)
    except ValidationError as exc:
        # The builder's date inputs take the app's format; the rule language's own is ISO.
        return [m.replace("(YYYY-MM-DD)", f"({dates.PLACEHOLDER})") for m in exc.messages]
    return []


def _is_blank_rule(rule) -> bool:
    """An event rule nothing has been chosen in yet (a new row): no event, property or filter."""
    if not isinstance(rule, dict) or rule.get("type") not in RULE_TYPES_WITH_EVENT:
        return False
    filters = rule.get("filters") if isinstance(rule.get("filters"), list) else []
    return (
        not rule.get("event")
        and not rule.get("property")
        and not any(isinstance(f, dict) and f.get("property") for f in filters)
    )


def blank_row_labels(tree) -> set[str]:
    """Labels ("1", "2.1") of the rows nothing has been chosen in yet."""
    blank = set()
    if isinstance(tree, dict) and isinstance(tree.get("rules"), list):
        for i, rule in enumerate(tree["rules"]):
            if _is_blank_rule(rule):
                blank.add(str(i + 1))
            elif isinstance(rule, dict) and isinstance(rule.get("rules"), list):
                blank.update(f"{i + 1}.{j + 1}" for j, child in enumerate(rule["rules"]) if _is_blank_rule(child))
    return blank


def without_blank_rows(messages, tree) -> list[str]:
    """The messages minus those about rows still blank: while someone builds the rules, a new row
    is not an error ("Rule 1: choose an event."); saving the form still reports it."""
    blank = blank_row_labels(tree)
    out = []
    for message in messages or []:
        match = ERROR_PATH.match(str(message))
        if not (match and match.group(1) in blank):
            out.append(str(message))
    return out


def errors_by_row(messages) -> tuple[dict[str, list[str]], list[str]]:
    """Split validation messages into {row label: [messages]} and the ones about the whole tree."""
    by_row: dict[str, list[str]] = {}
    general = []
    for message in messages or []:
        message = str(message)
        match = ERROR_PATH.match(message)
        if match:
            by_row.setdefault(match.group(1), []).append(message)
        else:
            general.append(message)
    return by_row, general


def row_ids(tree) -> dict[str, str]:
    """{row label: row element id} for the rows the visual builder draws for `tree`."""
    out: dict[str, str] = {}
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list) or _depth(tree) > 2:
        return out
    for i, rule in enumerate(tree["rules"]):
        out[str(i + 1)] = f"{PREFIX}-rules-{i}"
        if isinstance(rule, dict) and isinstance(rule.get("rules"), list):
            for j, _ in enumerate(rule["rules"]):
                out[f"{i + 1}.{j + 1}"] = f"{PREFIX}-rules-{i}-rules-{j}"
    return out


# --- view-model -------------------------------------------------------------------------------


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
        node.get("value_type") or types.get(prop) or R._infer_type(node.get("value"), node.get("operator") or "")
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
        # Dates in a text input in the app's format, with a calendar button (config/dates.py).
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


def _depth(node, depth=0) -> int:
    if isinstance(node, dict) and isinstance(node.get("rules"), list):
        return max([depth] + [_depth(child, depth + 1) for child in node["rules"]])
    return depth


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
    visual = isinstance(tree, dict) and isinstance(tree.get("rules", []), list) and _depth(tree) <= 2
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
