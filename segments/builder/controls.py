"""The builder's posted controls turned into a rule tree, and its structural actions (add, remove, change)."""

import copy
import json
import re

from accounts import dates
from segments import rules as R

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
    # Dates are typed as the app shows them ("4 Dec 2026"); the rules store ISO (accounts/dates.py).
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


def apply_change(tree: dict, changed: str, catalogue) -> None:
    """Keep the tree coherent after the control `changed` took a new value (`catalogue`: a view_model.Catalogue)."""
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


def tree_depth(node, depth=0) -> int:
    """How deep groups nest in a tree (0: no group; the visual builder draws up to 2)."""
    if isinstance(node, dict) and isinstance(node.get("rules"), list):
        return max([depth] + [tree_depth(child, depth + 1) for child in node["rules"]])
    return depth
