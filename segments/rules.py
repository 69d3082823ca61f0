"""Segment rule trees (SPEC 2.4): their JSON shape, validation, and compilation to one SQL query.

A rule tree is a group at the top::

    {"op": "and", "rules": [<rule or group>, ...]}          # "and" | "or"; groups nest:
    {"type": "group", "op": "or", "rules": [...]}

Rules (every "window" is optional and defaults to {"type": "ever"}):

    {"type": "did", "event": "Charged", "window": W, "filters": [F, ...],
     "aggregate": {"function": "count"|"sum"|"avg", "property": "Amount" (sum/avg only),
                   "operator": "at_least"|"at_most"|"equals"|"between", "value": 3, "value2": 5,
                   "include_zero": false}}                    # aggregate is optional
    {"type": "did_not", "event": "Added To Cart", "window": W, "filters": [F, ...]}
    {"type": "did_any", "events": ["Charged", "Added To Cart"], "window": W}
    {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune", "value_type": T}
    {"type": "interest", "event": "Product Viewed", "property": "Category", "value": "Shoes",
     "mode": "predominant"|"at_least", "percent": 40, "window": W}
    {"type": "in_segment", "segment_id": 3}      {"type": "not_in_segment", "segment_id": 3}
    {"type": "in_custom_list", "custom_list_id": 5}   {"type": "not_in_custom_list", "custom_list_id": 5}
    {"type": "constant_property", "property": "Product ID",
     "did": {"event": "Product Viewed", "window": W, "filters": [...]},
     "did_not": {"event": "Charged", "window": W, "filters": [...]}}
        # "viewed X and did not buy X", for any X; use "did_also" instead of "did_not" for
        # "viewed X and bought X".

A filter F is {"property": "Amount", "operator": O, "value": V, "value2": V2, "value_type": T}
with O one of equals, not_equals, contains, greater_than, less_than, between, exists, not_exists,
and T one of number, string, boolean, date (inferred from the value when absent; dates are
"YYYY-MM-DD"). Semantics worth knowing:
- `not_equals` also matches when the property is missing; comparisons never match a missing value.
- Numbers: a property compares numerically when it is a JSON number or a numeric string;
  anything else never matches (and never raises).
- Strings compare on the property's text (so the number 5 equals "5"); `contains` ignores case.
- Dates compare on the first 10 characters of an ISO string (YYYY-MM-DD...).
- Average treats events without the property as 0 (CleverTap's rule); count "at most N"
  needs at least one event unless "include_zero" is true.

A window W, in the account timezone:
    {"type": "ever"}
    {"type": "last", "amount": 30, "unit": "minutes"|"hours"|"days"|"weeks"|"months"}
        # minutes/hours roll back from now; days/weeks/months start at local midnight
        # ("last 1 day" = since 00:00 yesterday)
    {"type": "exactly_ago", "amount": 3}                      # that whole local day
    {"type": "between", "date": "2026-01-01", "date2": "2026-01-31"}   # both days included
    {"type": "before", "date": D}   {"type": "after", "date": D}   {"type": "on", "date": D}
        # before and after exclude the date itself
"""

import datetime
from decimal import Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.db.models import (
    Avg,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    Subquery,
    Sum,
    TextField,
    Value,
)
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

from segments.models import CustomList, CustomListMember, Event, Segment

OPS = ("and", "or")
RULE_TYPES = {
    "did": "Did event",
    "did_not": "Did not do event",
    "did_any": "Did any of",
    "user_property": "User property",
    "interest": "Interest",
    "in_segment": "In segment",
    "not_in_segment": "Not in segment",
    "in_custom_list": "In custom list",
    "not_in_custom_list": "Not in custom list",
    "constant_property": "Constant event property",
}
OPERATORS = {
    "equals": "equals",
    "not_equals": "not equals",
    "contains": "contains",
    "greater_than": "greater than",
    "less_than": "less than",
    "between": "between",
    "exists": "exists",
    "not_exists": "does not exist",
}
VALUE_TYPES = ("string", "number", "boolean", "date")
OPERATORS_BY_TYPE = {
    "string": ("equals", "not_equals", "contains", "exists", "not_exists"),
    "number": ("equals", "not_equals", "greater_than", "less_than", "between", "exists", "not_exists"),
    "boolean": ("equals", "not_equals", "exists", "not_exists"),
    "date": ("equals", "not_equals", "greater_than", "less_than", "between", "exists", "not_exists"),
}
AGG_FUNCTIONS = {"count": "count", "sum": "sum of", "avg": "average of"}
AGG_OPERATORS = {"at_least": "at least", "at_most": "at most", "equals": "exactly", "between": "between"}
WINDOW_TYPES = {
    "ever": "ever",
    "last": "in the last",
    "exactly_ago": "exactly N days ago",
    "between": "between",
    "before": "before",
    "after": "after",
    "on": "on",
}
UNITS = ("minutes", "hours", "days", "weeks", "months")
INTEREST_MODES = ("predominant", "at_least")
MAX_DEPTH = 6
MAX_RULES = 50

ERR_EMPTY = "Add at least one rule."
ERR_TREE = 'The rule tree must be an object like {"op": "and", "rules": [...]}.'
ERR_CYCLE = "Rule {path}: segment {id} refers back to itself (segments would include each other)."


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


def _infer_type(value, operator: str) -> str:
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
    value_type = raw.get("value_type") or _infer_type(value, operator)
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


# --- Time windows ------------------------------------------------------------------------


def _midnight(day: datetime.date, tz) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=tz)


def window_bounds(window: dict, *, now: datetime.datetime, tz) -> tuple[datetime.datetime | None, ...]:
    """[start, end) of a window as aware datetimes (None = open), in the account timezone."""
    kind = window.get("type", "ever")
    today = now.astimezone(tz).date()
    if kind == "ever":
        return None, None
    if kind == "last":
        amount, unit = window["amount"], window["unit"]
        if unit == "minutes":
            return now - datetime.timedelta(minutes=amount), None
        if unit == "hours":
            return now - datetime.timedelta(hours=amount), None
        if unit == "days":
            return _midnight(today - datetime.timedelta(days=amount), tz), None
        if unit == "weeks":
            return _midnight(today - datetime.timedelta(weeks=amount), tz), None
        return _midnight(today - relativedelta(months=amount), tz), None
    if kind == "exactly_ago":
        day = today - datetime.timedelta(days=window["amount"])
        return _midnight(day, tz), _midnight(day + datetime.timedelta(days=1), tz)
    day = datetime.date.fromisoformat(window["date"])
    next_day = _midnight(day + datetime.timedelta(days=1), tz)
    if kind == "between":
        day2 = datetime.date.fromisoformat(window["date2"])
        return _midnight(day, tz), _midnight(day2 + datetime.timedelta(days=1), tz)
    if kind == "before":
        return None, _midnight(day, tz)
    if kind == "after":
        return next_day, None
    return _midnight(day, tz), next_day  # on


# --- Compilation ---------------------------------------------------------------------------

_NUMERIC_RE = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


class JsonNumber(Func):
    """A JSON property as numeric, or NULL when it is not a number or numeric string (never raises)."""

    output_field = DecimalField()

    def __init__(self, key: str, column: str = "properties"):
        super().__init__(F(column), Value(key))

    def as_sql(self, compiler, connection, **extra):
        column, key = self.source_expressions
        col_sql, col_params = compiler.compile(column)
        key_sql, key_params = compiler.compile(key)
        v = f"({col_sql} -> {key_sql})"
        t = f"({col_sql} ->> {key_sql})"
        sql = (
            f"(CASE WHEN jsonb_typeof{v} = 'number' THEN {t}::numeric "
            f"WHEN jsonb_typeof{v} = 'string' AND {t} ~ '{_NUMERIC_RE}' THEN {t}::numeric END)"
        )
        return sql, (*col_params, *key_params) * 5


class JsonDate(Func):
    """The YYYY-MM-DD prefix of an ISO date string property, else NULL (compared as text)."""

    output_field = TextField()

    def __init__(self, key: str, column: str = "properties"):
        super().__init__(F(column), Value(key))

    def as_sql(self, compiler, connection, **extra):
        column, key = self.source_expressions
        col_sql, col_params = compiler.compile(column)
        key_sql, key_params = compiler.compile(key)
        t = f"({col_sql} ->> {key_sql})"
        return f"(CASE WHEN {t} ~ '{_DATE_RE}' THEN left({t}, 10) END)", (*col_params, *key_params) * 2


def _text(key: str, column: str = "properties"):
    return KeyTextTransform(key, column)


def _never_null(expr, comparison) -> Q:
    """`expr IS NOT NULL AND comparison`: a missing value is plainly false, so NOT works on it."""
    return Q(IsNull(expr, False)) & Q(comparison)


def filter_q(f: dict, column: str = "properties") -> Q:
    """A property filter as a Q on a model whose JSON column is `column` (never NULL-valued)."""
    key, operator, value_type = f["property"], f["operator"], f["value_type"]
    if operator == "exists":
        return Q(HasKey(F(column), key))
    if operator == "not_exists":
        return ~Q(HasKey(F(column), key))
    if value_type == "number":
        expr = JsonNumber(key, column)
        value = Value(Decimal(str(f["value"])), output_field=DecimalField())
        value2 = Value(Decimal(str(f["value2"])), output_field=DecimalField()) if "value2" in f else None
    elif value_type == "date":
        expr = JsonDate(key, column)
        value, value2 = Value(f["value"]), Value(f.get("value2"))
    elif value_type == "boolean":
        expr = _text(key, column)
        value = Value("true" if f["value"] else "false")
        value2 = None
    else:
        expr = _text(key, column)
        value, value2 = Value(f["value"]), None
    if operator == "equals":
        return _never_null(expr, Exact(expr, value))
    if operator == "not_equals":
        return Q(IsNull(expr, True)) | (Q(IsNull(expr, False)) & ~Q(Exact(expr, value)))
    if operator == "contains":
        return _never_null(expr, IContains(expr, f["value"]))
    if operator == "greater_than":
        return _never_null(expr, GreaterThan(expr, value))
    if operator == "less_than":
        return _never_null(expr, LessThan(expr, value))
    # between, both ends included
    return _never_null(expr, GreaterThanOrEqual(expr, value)) & Q(LessThanOrEqual(expr, value2))


def _agg_compare(expr, agg: dict) -> Q:
    value = Value(Decimal(str(agg["value"])), output_field=DecimalField())
    operator = agg["operator"]
    if operator == "at_least":
        return Q(GreaterThanOrEqual(expr, value))
    if operator == "at_most":
        return Q(LessThanOrEqual(expr, value))
    if operator == "equals":
        return Q(Exact(expr, value))
    value2 = Value(Decimal(str(agg["value2"])), output_field=DecimalField())
    return Q(GreaterThanOrEqual(expr, value)) & Q(LessThanOrEqual(expr, value2))


class RuleCompiler:
    """Turns a normalised rule tree into a Q on Profile: one SQL query with EXISTS subqueries."""

    def __init__(self, *, now: datetime.datetime, tz, after: int | None = None):
        self.now = now
        self.tz = tz
        # Keyset paging (profile id > after): pushed into list-membership subqueries as well,
        # which the planner scans in profile order and would otherwise read from the start.
        self.after = after
        self._segment_stack: list[int] = []

    def window_q(self, window: dict, field: str = "occurred_at") -> Q:
        start, end = window_bounds(window, now=self.now, tz=self.tz)
        q = Q()
        if start is not None:
            q &= Q(**{f"{field}__gte": start})
        if end is not None:
            q &= Q(**{f"{field}__lt": end})
        return q

    def events(self, *, name: str, window: dict, filters: list, outer: str = "pk"):
        q = Q(profile_id=OuterRef(outer), name=name) & self.window_q(window)
        for f in filters:
            q &= filter_q(f)
        return Event.objects.filter(q).order_by()

    def group(self, node: dict) -> Q:
        parts = [self.rule(child) for child in node["rules"]]
        combined = parts[0]
        for part in parts[1:]:
            combined = (combined & part) if node["op"] == "and" else (combined | part)
        return combined

    def rule(self, rule: dict) -> Q:
        if "rules" in rule:
            return self.group(rule)
        return getattr(self, f"rule_{rule['type']}")(rule)

    def aggregate_expr(self, rule: dict):
        agg = rule["aggregate"]
        events = self.events(name=rule["event"], window=rule["window"], filters=rule["filters"])
        if agg["function"] == "count":
            value = Count("pk")
        elif agg["function"] == "sum":
            value = Sum(Coalesce(JsonNumber(agg["property"]), Value(Decimal(0))))
        else:
            value = Avg(Coalesce(JsonNumber(agg["property"]), Value(Decimal(0))))
        sub = events.values("profile_id").annotate(agg=value).values("agg")
        return Coalesce(Subquery(sub, output_field=DecimalField()), Value(Decimal(0)), output_field=DecimalField())

    def rule_did(self, rule: dict) -> Q:
        exists = Q(Exists(self.events(name=rule["event"], window=rule["window"], filters=rule["filters"])))
        agg = rule.get("aggregate")
        if not agg:
            return exists
        compare = _agg_compare(self.aggregate_expr(rule), agg)
        return compare if agg.get("include_zero") else exists & compare

    def rule_did_not(self, rule: dict) -> Q:
        return ~Q(Exists(self.events(name=rule["event"], window=rule["window"], filters=rule["filters"])))

    def rule_did_any(self, rule: dict) -> Q:
        q = Q(profile_id=OuterRef("pk"), name__in=rule["events"]) & self.window_q(rule["window"])
        return Q(Exists(Event.objects.filter(q)))

    def rule_user_property(self, rule: dict) -> Q:
        return filter_q(rule)

    def rule_interest(self, rule: dict) -> Q:
        base = (
            self.events(name=rule["event"], window=rule["window"], filters=[])
            .annotate(iv=_text(rule["property"]))
            .filter(iv__isnull=False)
        )

        def count_of(qs):
            sub = qs.values("profile_id").annotate(c=Count("pk")).values("c")
            return Coalesce(Subquery(sub, output_field=DecimalField()), Value(Decimal(0)), output_field=DecimalField())

        matching = count_of(base.filter(iv=rule["value"]))
        if rule["mode"] == "at_least":
            total = count_of(base)
            share = ExpressionWrapper(matching * Value(Decimal(100)), output_field=DecimalField())
            needed = ExpressionWrapper(total * Value(Decimal(str(rule["percent"]))), output_field=DecimalField())
            return Q(GreaterThan(matching, Value(Decimal(0)))) & Q(GreaterThanOrEqual(share, needed))
        others = base.exclude(iv=rule["value"]).values("iv").annotate(c=Count("pk")).order_by("-c").values("c")[:1]
        top_other = Coalesce(Subquery(others, output_field=DecimalField()), Value(Decimal(0)))
        return Q(GreaterThan(matching, Value(Decimal(0)))) & Q(GreaterThanOrEqual(matching, top_other))

    def _segment_q(self, segment_id: int) -> Q:
        if segment_id in self._segment_stack:
            raise ValidationError(ERR_CYCLE.format(path=len(self._segment_stack), id=segment_id))
        rules = Segment.objects.filter(pk=segment_id).values_list("rules", flat=True).first()
        if not rules:
            # A deleted or empty segment matches nobody rather than everybody.
            return Q(pk__in=[])
        self._segment_stack.append(segment_id)
        try:
            return self.group(validate_rules(rules, segment_id=segment_id))
        finally:
            self._segment_stack.pop()

    def rule_in_segment(self, rule: dict) -> Q:
        return self._segment_q(rule["segment_id"])

    def rule_not_in_segment(self, rule: dict) -> Q:
        return ~self._segment_q(rule["segment_id"])

    def _list_exists(self, list_id: int) -> Exists:
        members = CustomListMember.objects.filter(custom_list_id=list_id, profile_id=OuterRef("pk"))
        if self.after is not None:
            # Implied by the outer profile id > after; said here so the member index is read
            # from the page's start (a run's chunk k read k pages of members otherwise).
            members = members.filter(profile_id__gt=self.after)
        return Exists(members)

    def rule_in_custom_list(self, rule: dict) -> Q:
        return Q(self._list_exists(rule["custom_list_id"]))

    def rule_not_in_custom_list(self, rule: dict) -> Q:
        return ~Q(self._list_exists(rule["custom_list_id"]))

    def rule_constant_property(self, rule: dict) -> Q:
        prop = rule["property"]
        first = self.events(name=rule["did"]["event"], window=rule["did"]["window"], filters=rule["did"]["filters"])
        first = first.annotate(cv=_text(prop)).filter(cv__isnull=False)
        negate = "did_not" in rule
        side = rule["did_not"] if negate else rule["did_also"]
        second = self.events(name=side["event"], window=side["window"], filters=side["filters"], outer="profile_id")
        second = second.annotate(cv2=_text(prop)).filter(cv2=OuterRef("cv"))
        pair = ~Q(Exists(second)) if negate else Q(Exists(second))
        return Q(Exists(first.filter(pair)))


def compile_rules(rules: dict, *, now: datetime.datetime, tz, after: int | None = None) -> Q:
    """A validated tree as a Q on Profile (with `after`: for the profiles of id > after only)."""
    q = RuleCompiler(now=now, tz=tz, after=after).group(rules)
    return q & Q(pk__gt=after) if after is not None else q


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
