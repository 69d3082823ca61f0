"""Compiling a validated rule tree to one SQL condition on Profile, and a time window to its bounds."""

import datetime
from decimal import Decimal

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

from segments.models import CustomListMember, Event, Segment
from segments.rules.validation import validate_rules
from segments.rules.vocabulary import ERR_CYCLE

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
