"""Checking a rule tree (or a list of event filters) and returning it normalised, one message per bad rule."""

import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from segments.models import CustomList, Segment
from segments.rules.vocabulary import (
    AGG_FUNCTIONS,
    AGG_OPERATORS,
    ERR_CYCLE,
    ERR_EMPTY,
    ERR_TREE,
    INTEREST_MODES,
    MAX_DEPTH,
    MAX_RULES,
    OPERATORS,
    OPERATORS_BY_TYPE,
    OPS,
    RULE_TYPES,
    UNITS,
    VALUE_TYPES,
    WINDOW_TYPES,
)


def _is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _to_number(value):
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not number.is_finite():
            return None
        return int(number) if number == number.to_integral_value() else float(number)
    return None


def _to_date(value) -> str | None:
    if isinstance(value, datetime.date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    return None


class _Errors:
    def __init__(self):
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.messages.append(f"Rule {path}: {message}" if path else message)


def infer_type(value, operator: str) -> str:
    if isinstance(value, bool):
        return "boolean"
    if _is_number(value) or operator in ("greater_than", "less_than", "between"):
        return "number"
    return "string"


def _filter_normalise(raw, path: str, errors: _Errors) -> dict | None:
    if not isinstance(raw, dict):
        errors.add(path, "a filter must be an object.")
        return None
    prop = raw.get("property")
    if not isinstance(prop, str) or not prop.strip():
        errors.add(path, "choose a property.")
        return None
    prop = prop.strip()
    operator = raw.get("operator")
    if operator not in OPERATORS:
        errors.add(path, f'"{operator}" is not an operator (use one of: {", ".join(OPERATORS.values())}).')
        return None
    value, value2 = raw.get("value"), raw.get("value2")
    value_type = raw.get("value_type") or infer_type(value, operator)
    if value_type not in VALUE_TYPES:
        errors.add(path, f'"{value_type}" is not a value type (number, string, boolean or date).')
        return None
    if operator not in OPERATORS_BY_TYPE[value_type]:
        errors.add(path, f'{prop}: "{OPERATORS[operator]}" does not apply to a {value_type}.')
        return None
    result = {"property": prop, "operator": operator, "value_type": value_type}
    if operator in ("exists", "not_exists"):
        return result
    values = [value, value2] if operator == "between" else [value]
    clean = []
    for v in values:
        if value_type == "number":
            c = _to_number(v)
            if c is None:
                errors.add(path, f"{prop}: {v!r} is not a number.")
                return None
        elif value_type == "date":
            c = _to_date(v)
            if c is None:
                errors.add(path, f"{prop}: {v!r} is not a date (YYYY-MM-DD).")
                return None
        elif value_type == "boolean":
            c = v if isinstance(v, bool) else {"true": True, "false": False}.get(str(v).strip().lower())
            if c is None:
                errors.add(path, f"{prop}: {v!r} is not true or false.")
                return None
        else:
            if v is None or (isinstance(v, str) and v == ""):
                errors.add(path, f"{prop}: enter a value.")
                return None
            c = str(v)
        clean.append(c)
    result["value"] = clean[0]
    if operator == "between":
        if clean[0] > clean[1]:
            errors.add(path, f"{prop}: the first value of between must not be above the second.")
            return None
        result["value2"] = clean[1]
    return result


def _window_normalise(raw, path: str, errors: _Errors) -> dict | None:
    if raw is None:
        return {"type": "ever"}
    if not isinstance(raw, dict) or raw.get("type") not in WINDOW_TYPES:
        errors.add(path, "choose a time window.")
        return None
    kind = raw["type"]
    if kind == "ever":
        return {"type": "ever"}
    if kind in ("last", "exactly_ago"):
        amount = _to_number(raw.get("amount"))
        if not isinstance(amount, int) or amount < 1 or amount > 3650:
            errors.add(path, "the time window needs a whole number between 1 and 3650.")
            return None
        if kind == "exactly_ago":
            return {"type": kind, "amount": amount}
        if raw.get("unit") not in UNITS:
            errors.add(path, "choose minutes, hours, days, weeks or months for the time window.")
            return None
        return {"type": kind, "amount": amount, "unit": raw["unit"]}
    date = _to_date(raw.get("date"))
    if date is None:
        errors.add(path, "the time window needs a date (YYYY-MM-DD).")
        return None
    if kind == "between":
        date2 = _to_date(raw.get("date2"))
        if date2 is None:
            errors.add(path, "the time window needs an end date (YYYY-MM-DD).")
            return None
        if date2 < date:
            errors.add(path, "the end date of the time window is before its start date.")
            return None
        return {"type": kind, "date": date, "date2": date2}
    return {"type": kind, "date": date}


def _event_name(raw, path, errors, key="event") -> str | None:
    name = raw.get(key)
    if not isinstance(name, str) or not name.strip():
        errors.add(path, "choose an event.")
        return None
    return name.strip()


def _filters(raw, path, errors) -> list:
    filters = raw.get("filters") or []
    if not isinstance(filters, list):
        errors.add(path, "filters must be a list.")
        return []
    out = []
    for i, f in enumerate(filters, 1):
        clean = _filter_normalise(f, f"{path} filter {i}", errors)
        if clean:
            out.append(clean)
    return out


def _aggregate_normalise(raw, path, errors) -> dict | None:
    if not raw:
        return None
    if not isinstance(raw, dict) or raw.get("function") not in AGG_FUNCTIONS:
        errors.add(path, "choose count, sum or average for the aggregate filter.")
        return None
    function = raw["function"]
    result = {"function": function, "include_zero": bool(raw.get("include_zero"))}
    if function != "count":
        prop = raw.get("property")
        if not isinstance(prop, str) or not prop.strip():
            errors.add(path, f"choose the numeric property to {AGG_FUNCTIONS[function]}.")
            return None
        result["property"] = prop.strip()
    operator = raw.get("operator")
    if operator not in AGG_OPERATORS:
        errors.add(path, "choose at least, at most, exactly or between for the aggregate filter.")
        return None
    result["operator"] = operator
    value = _to_number(raw.get("value"))
    if value is None:
        errors.add(path, f"the {AGG_FUNCTIONS[function]} filter needs a number.")
        return None
    result["value"] = value
    if operator == "between":
        value2 = _to_number(raw.get("value2"))
        if value2 is None or value2 < value:
            errors.add(path, f"the {AGG_FUNCTIONS[function]} filter needs a second number not below the first.")
            return None
        result["value2"] = value2
    return result


def _side_normalise(raw, path, errors) -> dict | None:
    if not isinstance(raw, dict):
        errors.add(path, "describe the event.")
        return None
    name = _event_name(raw, path, errors)
    window = _window_normalise(raw.get("window"), path, errors)
    filters = _filters(raw, path, errors)
    if name is None or window is None:
        return None
    return {"event": name, "window": window, "filters": filters}


def _rule_normalise(raw, path: str, errors: _Errors, depth: int, counter: list) -> dict | None:
    counter[0] += 1
    if not isinstance(raw, dict):
        errors.add(path, "each rule must be an object.")
        return None
    if raw.get("type", "group") == "group" and "rules" in raw:
        return _group_normalise(raw, path, errors, depth + 1, counter)
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        errors.add(path, f'"{kind}" is not a rule type.')
        return None
    rule = {"type": kind}
    if kind in ("did", "did_not"):
        name = _event_name(raw, path, errors)
        window = _window_normalise(raw.get("window"), path, errors)
        filters = _filters(raw, path, errors)
        aggregate = _aggregate_normalise(raw.get("aggregate"), path, errors) if kind == "did" else None
        if name is None or window is None:
            return None
        rule.update(event=name, window=window, filters=filters)
        if kind == "did":
            rule["aggregate"] = aggregate
    elif kind == "did_any":
        events = raw.get("events")
        if not isinstance(events, list) or not [e for e in events if isinstance(e, str) and e.strip()]:
            errors.add(path, "choose at least one event.")
            return None
        window = _window_normalise(raw.get("window"), path, errors)
        if window is None:
            return None
        rule.update(events=sorted({e.strip() for e in events if isinstance(e, str) and e.strip()}), window=window)
    elif kind == "user_property":
        clean = _filter_normalise(raw, path, errors)
        if clean is None:
            return None
        rule.update(clean)
    elif kind == "interest":
        name = _event_name(raw, path, errors)
        prop = raw.get("property")
        if not isinstance(prop, str) or not prop.strip():
            errors.add(path, "choose the event property the interest is about.")
            return None
        value = raw.get("value")
        if value is None or str(value).strip() == "":
            errors.add(path, "enter the interest value (for example Shoes).")
            return None
        mode = raw.get("mode") or "predominant"
        if mode not in INTEREST_MODES:
            errors.add(path, "choose predominantly or at least a percentage.")
            return None
        window = _window_normalise(raw.get("window"), path, errors)
        if name is None or window is None:
            return None
        rule.update(event=name, property=prop.strip(), value=str(value).strip(), mode=mode, window=window)
        if mode == "at_least":
            percent = _to_number(raw.get("percent"))
            if percent is None or not 0 < percent <= 100:
                errors.add(path, "the percentage must be above 0 and at most 100.")
                return None
            rule["percent"] = percent
    elif kind in ("in_segment", "not_in_segment"):
        seg_id = _to_number(raw.get("segment_id"))
        if not isinstance(seg_id, int) or not Segment.objects.filter(pk=seg_id).exists():
            errors.add(path, "choose an existing segment.")
            return None
        rule["segment_id"] = seg_id
    elif kind in ("in_custom_list", "not_in_custom_list"):
        list_id = _to_number(raw.get("custom_list_id"))
        if not isinstance(list_id, int) or not CustomList.objects.filter(pk=list_id).exists():
            errors.add(path, "choose an existing custom list.")
            return None
        rule["custom_list_id"] = list_id
    elif kind == "constant_property":
        prop = raw.get("property")
        if not isinstance(prop, str) or not prop.strip():
            errors.add(path, "choose the property held constant (for example Product ID).")
            return None
        first = _side_normalise(raw.get("did"), f"{path} (did)", errors)
        second_key = "did_not" if "did_not" in raw else "did_also"
        second = _side_normalise(raw.get(second_key), f"{path} ({second_key.replace('_', ' ')})", errors)
        if first is None or second is None:
            return None
        rule.update(property=prop.strip(), did=first)
        rule[second_key] = second
    return rule


def _group_normalise(raw, path: str, errors: _Errors, depth: int, counter: list) -> dict | None:
    if depth > MAX_DEPTH:
        errors.add(path, f"groups nest at most {MAX_DEPTH} deep.")
        return None
    op = raw.get("op", "and")
    if op not in OPS:
        errors.add(path, 'a group combines its rules with "and" or "or".')
        return None
    children = raw.get("rules")
    if not isinstance(children, list) or not children:
        errors.add(path, ERR_EMPTY[0].lower() + ERR_EMPTY[1:] if path else ERR_EMPTY)
        return None
    out = []
    for i, child in enumerate(children, 1):
        clean = _rule_normalise(child, f"{path}.{i}" if path else str(i), errors, depth, counter)
        if clean is not None:
            out.append(clean)
    group = {"op": op, "rules": out}
    if path:
        group = {"type": "group", **group}
    return group


def referenced_segments(tree) -> set[int]:
    """Ids of the segments a tree refers to directly (in or not in segment)."""
    found = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("in_segment", "not_in_segment") and isinstance(node.get("segment_id"), int):
                found.add(node["segment_id"])
            stack.extend(v for v in node.get("rules", []) if isinstance(node.get("rules"), list))
    return found


def referenced_custom_lists(tree) -> set[int]:
    """Ids of the custom lists a tree refers to directly (in or not in custom list)."""
    found = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") in ("in_custom_list", "not_in_custom_list") and isinstance(
                node.get("custom_list_id"), int
            ):
                found.add(node["custom_list_id"])
            stack.extend(v for v in node.get("rules", []) if isinstance(node.get("rules"), list))
    return found


def _check_cycles(tree: dict, segment_id: int | None, errors: _Errors) -> None:
    def visit(seg_ids: set[int], trail: tuple[int, ...]):
        for sid in sorted(seg_ids):
            if sid in trail:
                errors.add("", ERR_CYCLE.format(path="", id=sid).replace("Rule : ", ""))
                return True
            rules = Segment.objects.filter(pk=sid).values_list("rules", flat=True).first() or {}
            if visit(referenced_segments(rules), (*trail, sid)):
                return True
        return False

    visit(referenced_segments(tree), (segment_id,) if segment_id else ())


def validate_rules(rules, *, segment_id: int | None = None) -> dict:
    """Check a rule tree; return it normalised or raise ValidationError with one message per bad rule."""
    if isinstance(rules, dict) and "rules" not in rules and "type" in rules:
        rules = {"op": "and", "rules": [rules]}
    if not isinstance(rules, dict):
        raise ValidationError(ERR_TREE)
    errors = _Errors()
    counter = [0]
    tree = _group_normalise(rules, "", errors, 1, counter)
    if counter[0] > MAX_RULES:
        errors.add("", f"A segment has at most {MAX_RULES} rules.")
    if tree is not None and not errors.messages:
        _check_cycles(tree, segment_id, errors)
    if errors.messages or tree is None:
        raise ValidationError(errors.messages or [ERR_TREE])
    return tree


def validate_filters(filters) -> list:
    """Normalise a list of event property filters (as `filter_q` takes them); ValidationError on a bad one."""
    errors = _Errors()
    clean = _filters({"filters": filters}, "trigger", errors)
    if errors.messages:
        raise ValidationError(errors.messages)
    return clean
