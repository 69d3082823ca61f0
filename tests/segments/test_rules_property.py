"""Hypothesis: the compiled SQL agrees with a plain-Python evaluator of the same rules."""

import datetime
import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Account
from segments import rules, selectors
from segments.models import Event, Profile

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
NUMERIC = re.compile(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$")

# --- A plain-Python evaluator (the reference semantics of segments/rules/__init__.py) ---------------


def as_number(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and NUMERIC.match(value):
        return Decimal(value.strip())
    return None


def as_text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def filter_matches(props: dict, flt: dict) -> bool:
    key, op, kind = flt["property"], flt["operator"], flt["value_type"]
    if op == "exists":
        return key in props
    if op == "not_exists":
        return key not in props
    raw = props.get(key)
    if kind == "number":
        got, want = as_number(raw), Decimal(str(flt["value"]))
    elif kind == "boolean":
        got, want = as_text(raw), "true" if flt["value"] else "false"
    else:
        got, want = as_text(raw), flt["value"]
    if op == "not_equals":
        return got is None or got != want
    if got is None:
        return False
    if op == "equals":
        return got == want
    if op == "contains":
        return want.lower() in got.lower()
    if op == "greater_than":
        return got > want
    if op == "less_than":
        return got < want
    return want <= got <= Decimal(str(flt["value2"]))


def in_window(at, window, tz):
    start, end = rules.window_bounds(window, now=NOW, tz=tz)
    return (start is None or at >= start) and (end is None or at < end)


def evaluate(node, profile, events, tz) -> bool:
    if "rules" in node:
        results = [evaluate(child, profile, events, tz) for child in node["rules"]]
        return all(results) if node["op"] == "and" else any(results)
    kind = node["type"]
    if kind == "user_property":
        return filter_matches(profile["props"], node)
    if kind == "did_any":
        return any(e["name"] in node["events"] and in_window(e["at"], node["window"], tz) for e in events)
    chosen = [
        e
        for e in events
        if e["name"] == node["event"]
        and in_window(e["at"], node["window"], tz)
        and all(filter_matches(e["props"], flt) for flt in node["filters"])
    ]
    if kind == "did_not":
        return not chosen
    agg = node.get("aggregate")
    if not agg:
        return bool(chosen)
    if agg["function"] == "count":
        value = Decimal(len(chosen))
    else:
        amounts = [as_number(e["props"].get(agg["property"])) or Decimal(0) for e in chosen]
        total = sum(amounts, Decimal(0))
        value = total if agg["function"] == "sum" else (total / len(amounts) if amounts else Decimal(0))
    lo = Decimal(str(agg["value"]))
    ok = {
        "at_least": value >= lo,
        "at_most": value <= lo,
        "equals": value == lo,
        "between": lo <= value <= Decimal(str(agg.get("value2", 0))),
    }[agg["operator"]]
    return ok and (bool(chosen) or agg.get("include_zero", False))


# --- Strategies -----------------------------------------------------------------------------

prop_values = st.one_of(st.integers(-3, 3), st.sampled_from(["1", "2", " 2 ", "x", "Pune", "pune", ""]), st.booleans())
props = st.dictionaries(st.sampled_from(["Amount", "Mode"]), prop_values, max_size=2)
event_st = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["A", "B"]),
        "props": props,
        "at": st.integers(0, 12 * 24 * 60).map(lambda m: NOW - datetime.timedelta(minutes=m)),
    }
)
profile_st = st.fixed_dictionaries(
    {
        "props": st.dictionaries(st.sampled_from(["City", "Age"]), prop_values, max_size=2),
        "events": st.lists(event_st, max_size=5),
    }
)

number_filter = st.builds(
    lambda p, op, v, w: {
        "property": p,
        "operator": op,
        "value": v,
        "value_type": "number",
        **({"value2": v + w} if op == "between" else {}),
    },
    st.sampled_from(["Amount", "Age"]),
    st.sampled_from(["equals", "not_equals", "greater_than", "less_than", "between"]),
    st.integers(-2, 2),
    st.integers(0, 3),
)
string_filter = st.builds(
    lambda p, op, v: {"property": p, "operator": op, "value": v, "value_type": "string"},
    st.sampled_from(["Mode", "City", "Amount"]),
    st.sampled_from(["equals", "not_equals", "contains"]),
    st.sampled_from(["Pune", "pun", "x", "1", "true"]),
)
presence_filter = st.builds(
    lambda p, op: {"property": p, "operator": op, "value_type": "string"},
    st.sampled_from(["Amount", "Mode", "City"]),
    st.sampled_from(["exists", "not_exists"]),
)
bool_filter = st.builds(
    lambda p, op, v: {"property": p, "operator": op, "value": v, "value_type": "boolean"},
    st.sampled_from(["Mode", "City"]),
    st.sampled_from(["equals", "not_equals"]),
    st.booleans(),
)
any_filter = st.one_of(number_filter, string_filter, presence_filter, bool_filter)
window_st = st.one_of(
    st.just({"type": "ever"}),
    st.builds(
        lambda n, u: {"type": "last", "amount": n, "unit": u},
        st.integers(1, 10),
        st.sampled_from(["hours", "days", "weeks"]),
    ),
    st.builds(lambda n: {"type": "exactly_ago", "amount": n}, st.integers(0, 10).map(lambda n: max(n, 1))),
    st.builds(
        lambda d: {"type": "on", "date": (NOW - datetime.timedelta(days=d)).date().isoformat()}, st.integers(0, 10)
    ),
)
aggregate_st = st.one_of(
    st.none(),
    st.builds(
        lambda fn, op, v, inc: {
            "function": fn,
            "operator": op,
            "value": v,
            "include_zero": inc,
            **({"property": "Amount"} if fn != "count" else {}),
            **({"value2": v + 2} if op == "between" else {}),
        },
        st.sampled_from(["count", "sum", "avg"]),
        st.sampled_from(["at_least", "at_most", "equals", "between"]),
        st.integers(0, 3),
        st.booleans(),
    ),
)
event_rule = st.builds(
    lambda kind, e, w, fl, agg: {
        "type": kind,
        "event": e,
        "window": w,
        "filters": fl,
        **({"aggregate": agg} if kind == "did" and agg else {}),
    },
    st.sampled_from(["did", "did_not"]),
    st.sampled_from(["A", "B"]),
    window_st,
    st.lists(st.one_of(number_filter, string_filter, presence_filter), max_size=2),
    aggregate_st,
)
user_rule = any_filter.map(
    lambda flt: (
        {"type": "user_property", **flt}
        if flt["property"] in ("City", "Age")
        else {"type": "user_property", **flt, "property": "City"}
    )
)
did_any_rule = st.builds(
    lambda es, w: {"type": "did_any", "events": es, "window": w},
    st.lists(st.sampled_from(["A", "B"]), min_size=1, max_size=2),
    window_st,
)
leaf = st.one_of(event_rule, user_rule, did_any_rule)
tree_st = st.recursive(
    leaf,
    lambda children: st.builds(
        lambda op, rs: {"type": "group", "op": op, "rules": rs},
        st.sampled_from(["and", "or"]),
        st.lists(children, min_size=1, max_size=3),
    ),
    max_leaves=5,
).map(lambda node: {"op": node["op"], "rules": node["rules"]} if "rules" in node else {"op": "and", "rules": [node]})


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(people=st.lists(profile_st, min_size=1, max_size=6), tree=tree_st)
def test_compiled_query_agrees_with_python(db, people, tree):
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kolkata"})
    Profile.objects.all().delete()
    tz = Account.objects.get(pk=1).tzinfo
    created = Profile.objects.bulk_create(
        Profile(identity=f"p{i}", properties=p["props"]) for i, p in enumerate(people)
    )
    Event.objects.bulk_create(
        Event(profile=profile, name=e["name"], properties=e["props"], occurred_at=e["at"])
        for profile, person in zip(created, people, strict=True)
        for e in person["events"]
    )
    normalised = rules.validate_rules(tree)
    expected = {f"p{i}" for i, person in enumerate(people) if evaluate(normalised, person, person["events"], tz)}
    ids = selectors.segment_profile_ids(rules=normalised, now=NOW)
    got = set(Profile.objects.filter(pk__in=ids).values_list("identity", flat=True))
    assert got == expected
