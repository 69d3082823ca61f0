"""The rule engine against hand-computed answers on small data (SPEC 2.4)."""

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from segments import rules, selectors, services
from segments.models import CustomList, CustomListMember, Segment
from tests.segments.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
IST = zoneinfo.ZoneInfo("Asia/Kolkata")
# 12:00 in Kolkata; local midnight of 23 Nov is 22 Nov 18:30 UTC.
NOW = datetime.datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


def days_ago(n, **extra):
    return NOW - datetime.timedelta(days=n, **extra)


def matching(tree) -> set[str]:
    from segments.models import Profile

    ids = selectors.segment_profile_ids(rules=tree, now=NOW)
    return set(Profile.objects.filter(pk__in=ids).values_list("identity", flat=True))


def AND(*rs):
    return {"op": "and", "rules": list(rs)}


def OR(*rs):
    return {"op": "or", "rules": list(rs)}


def did(event, window=None, filters=(), aggregate=None, kind="did"):
    rule = {"type": kind, "event": event, "window": window or {"type": "ever"}, "filters": list(filters)}
    if aggregate:
        rule["aggregate"] = aggregate
    return rule


def last(amount, unit="days"):
    return {"type": "last", "amount": amount, "unit": unit}


def f(prop, operator, value=None, value2=None, value_type=None):
    out = {"property": prop, "operator": operator}
    if value is not None:
        out["value"] = value
    if value2 is not None:
        out["value2"] = value2
    if value_type:
        out["value_type"] = value_type
    return out


@pytest.fixture
def shop(db):
    """Five profiles with known histories (see each line)."""
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kolkata"})
    a = ProfileFactory(identity="a", properties={"City": "Pune", "Age": 25, "VIP": True, "Birthday": "1990-05-01"})
    b = ProfileFactory(identity="b", properties={"City": "Mumbai", "Age": "41", "VIP": False})
    c = ProfileFactory(identity="c", properties={"City": "Pune", "Age": "old", "Birthday": "2001-12-31T10:00:00"})
    d = ProfileFactory(identity="d", properties={"Age": 33, "Birthday": "not a date"})
    e = ProfileFactory(identity="e", properties={"City": "Delhi"})
    ev = EventFactory
    # a: two purchases (250 recent, 50 old), a cart add 10 days ago, mostly views Shoes.
    ev(
        profile=a,
        name="Charged",
        properties={"Amount": 250, "Mode": "UPI", "Product ID": "p1"},
        occurred_at=days_ago(2),
    )
    ev(profile=a, name="Charged", properties={"Amount": 50, "Mode": "Card"}, occurred_at=days_ago(40))
    ev(profile=a, name="Added To Cart", properties={"Product ID": "p2"}, occurred_at=days_ago(10))
    for cat in ["Shoes", "Shoes", "Shoes", "Books"]:
        ev(profile=a, name="Product Viewed", properties={"Category": cat, "Product ID": "p1"}, occurred_at=days_ago(1))
    ev(profile=a, name="Product Viewed", properties={"Category": "Toys", "Product ID": "p3"}, occurred_at=days_ago(1))
    # b: one purchase with a numeric string, a cart add yesterday, views tied Books/Shoes.
    ev(profile=b, name="Charged", properties={"Amount": "120", "Mode": "card upi"}, occurred_at=days_ago(5))
    ev(profile=b, name="Added To Cart", properties={"Product ID": "p9"}, occurred_at=days_ago(1))
    for cat in ["Books", "Shoes", "Books", "Shoes"]:
        ev(profile=b, name="Product Viewed", properties={"Category": cat, "Product ID": "p9"}, occurred_at=days_ago(3))
    # c: one purchase whose amount is not a number, one view.
    ev(profile=c, name="Charged", properties={"Amount": "abc"}, occurred_at=days_ago(3))
    ev(profile=c, name="Product Viewed", properties={"Category": "Electronics"}, occurred_at=days_ago(3))
    # d: nothing at all.
    # e: a purchase 29 days ago and one without an amount yesterday.
    ev(profile=e, name="Charged", properties={"Amount": 101}, occurred_at=days_ago(29))
    ev(profile=e, name="Charged", properties={"Mode": "COD"}, occurred_at=days_ago(1))
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_did_event_in_the_last_30_days(shop):
    assert matching(AND(did("Charged", last(30)))) == {"a", "b", "c", "e"}


def test_did_with_numeric_filter_casts_safely(shop):
    # c's "abc" neither matches nor raises; b's "120" compares as a number.
    assert matching(AND(did("Charged", last(30), [f("Amount", "greater_than", 100)]))) == {"a", "b", "e"}


def test_the_two_rule_segment(shop):
    tree = AND(
        did("Charged", last(30), [f("Amount", "greater_than", 100)]),
        did("Added To Cart", last(7), kind="did_not"),
    )
    assert matching(tree) == {"a", "e"}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("Amount", "equals", 250), {"a"}),
        (f("Amount", "equals", 120), {"b"}),
        (f("Amount", "not_equals", 250), {"a", "b", "c", "e"}),
        (f("Amount", "greater_than", 101), {"a", "b"}),
        (f("Amount", "less_than", 101), {"a"}),
        (f("Amount", "between", 101, 250), {"a", "b", "e"}),
        (f("Amount", "exists"), {"a", "b", "c", "e"}),
        (f("Amount", "not_exists"), {"e"}),
        (f("Mode", "equals", "UPI"), {"a"}),
        (f("Mode", "contains", "upi"), {"a", "b"}),
        (f("Mode", "not_equals", "Card"), {"a", "b", "c", "e"}),
        (f("Amount", "equals", "abc"), {"c"}),
    ],
)
def test_event_property_operators(shop, flt, expected):
    assert matching(AND(did("Charged", filters=[flt]))) == expected


def test_did_not_with_a_property_filter(shop):
    # Nobody but a paid by UPI; everyone else "did not do Charged with Mode = UPI".
    assert matching(AND(did("Charged", filters=[f("Mode", "equals", "UPI")], kind="did_not"))) == {"b", "c", "d", "e"}


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        ({"function": "count", "operator": "at_least", "value": 2}, {"a", "e"}),
        ({"function": "count", "operator": "at_most", "value": 1}, {"b", "c"}),
        ({"function": "count", "operator": "at_most", "value": 1, "include_zero": True}, {"b", "c", "d"}),
        ({"function": "count", "operator": "equals", "value": 2}, {"a", "e"}),
        ({"function": "count", "operator": "between", "value": 1, "value2": 1}, {"b", "c"}),
        ({"function": "sum", "property": "Amount", "operator": "at_least", "value": 200}, {"a"}),
        ({"function": "sum", "property": "Amount", "operator": "between", "value": 100, "value2": 150}, {"b", "e"}),
        # Missing amounts count as 0: e averages (101 + 0) / 2.
        ({"function": "avg", "property": "Amount", "operator": "at_least", "value": 100}, {"a", "b"}),
        ({"function": "avg", "property": "Amount", "operator": "equals", "value": "50.5"}, {"e"}),
    ],
)
def test_aggregate_filters(shop, aggregate, expected):
    assert matching(AND(did("Charged", aggregate=aggregate))) == expected


def test_aggregate_counts_only_events_in_the_window_and_filters(shop):
    agg = {"function": "count", "operator": "at_least", "value": 2}
    assert matching(AND(did("Charged", last(30), aggregate=agg))) == {"e"}
    assert matching(AND(did("Charged", filters=[f("Amount", "exists")], aggregate=agg))) == {"a"}


def test_did_any_of(shop):
    tree = AND({"type": "did_any", "events": ["Added To Cart", "Charged"], "window": last(3)})
    assert matching(tree) == {"a", "b", "c", "e"}
    tree = AND({"type": "did_any", "events": ["Added To Cart"], "window": last(30)})
    assert matching(tree) == {"a", "b"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (f("City", "equals", "Pune"), {"a", "c"}),
        (f("City", "not_equals", "Pune"), {"b", "d", "e"}),
        (f("City", "contains", "u"), {"a", "b", "c"}),
        (f("City", "exists"), {"a", "b", "c", "e"}),
        (f("City", "not_exists"), {"d"}),
        (f("Age", "greater_than", 30), {"b", "d"}),
        (f("Age", "between", 25, 33), {"a", "d"}),
        (f("Age", "less_than", 100), {"a", "b", "d"}),
        (f("VIP", "equals", True), {"a"}),
        (f("VIP", "equals", "false", value_type="boolean"), {"b"}),
        (f("VIP", "not_equals", True), {"b", "c", "d", "e"}),
        (f("Birthday", "less_than", "1995-01-01", value_type="date"), {"a"}),
        (f("Birthday", "equals", "2001-12-31", value_type="date"), {"c"}),
        (f("Birthday", "greater_than", "1990-05-01", value_type="date"), {"c"}),
        (f("Birthday", "between", "1990-01-01", "2002-01-01", value_type="date"), {"a", "c"}),
        (f("Birthday", "exists", value_type="date"), {"a", "c", "d"}),
    ],
)
def test_user_property(shop, rule, expected):
    assert matching(AND({"type": "user_property", **rule})) == expected


def test_interest_predominant_and_at_least(shop):
    base = {"type": "interest", "event": "Product Viewed", "property": "Category", "value": "Shoes"}
    # a: Shoes 3 of 5; b: Shoes ties Books 2–2 (a tie still counts); c: Electronics only.
    assert matching(AND({**base, "mode": "predominant"})) == {"a", "b"}
    assert matching(AND({**base, "mode": "at_least", "percent": 60})) == {"a"}
    assert matching(AND({**base, "mode": "at_least", "percent": 50})) == {"a", "b"}
    assert matching(AND({**base, "mode": "predominant", "window": last(2)})) == {"a"}


def test_and_or_nesting(shop):
    tree = OR(
        AND({"type": "user_property", **f("City", "equals", "Pune")}, did("Charged", last(7))),
        {"type": "group", "op": "and", "rules": [{"type": "user_property", **f("Age", "greater_than", 40)}]},
    )
    assert matching(tree) == {"a", "c", "b"}
    assert matching(AND(tree, did("Added To Cart", kind="did_not"))) == {"c"}


def test_in_and_not_in_segment_and_custom_list(shop, marketer):
    pune = services.segment_save(
        name="Pune", description="", rule_tree=AND({"type": "user_property", **f("City", "equals", "Pune")}), actor=None
    )
    assert matching(AND({"type": "in_segment", "segment_id": pune.pk})) == {"a", "c"}
    assert matching(AND({"type": "not_in_segment", "segment_id": pune.pk})) == {"b", "d", "e"}
    nested = services.segment_save(
        name="Pune buyers",
        description="",
        rule_tree=AND({"type": "in_segment", "segment_id": pune.pk}, did("Charged", last(2))),
        actor=None,
    )
    assert matching(AND({"type": "in_segment", "segment_id": nested.pk})) == {"a"}
    vip = CustomList.objects.create(name="VIPs")
    CustomListMember.objects.create(custom_list=vip, profile=shop["b"])
    CustomListMember.objects.create(custom_list=vip, profile=shop["d"])
    assert matching(AND({"type": "in_custom_list", "custom_list_id": vip.pk})) == {"b", "d"}
    assert matching(AND({"type": "not_in_custom_list", "custom_list_id": vip.pk})) == {"a", "c", "e"}


def test_segments_that_include_each_other_are_refused(shop):
    one = services.segment_save(name="One", description="", rule_tree=AND(did("Charged")), actor=None)
    two = services.segment_save(
        name="Two", description="", rule_tree=AND({"type": "in_segment", "segment_id": one.pk}), actor=None
    )
    with pytest.raises(ValidationError) as exc:
        services.segment_save(
            segment=one,
            name="One",
            description="",
            rule_tree=AND({"type": "in_segment", "segment_id": two.pk}),
            actor=None,
        )
    assert "refers back to itself" in exc.value.messages[0]
    with pytest.raises(ValidationError):
        services.segment_save(
            segment=one,
            name="One",
            description="",
            rule_tree=AND({"type": "in_segment", "segment_id": one.pk}),
            actor=None,
        )


def test_a_segment_used_by_another_cannot_be_deleted(shop):
    one = services.segment_save(name="One", description="", rule_tree=AND(did("Charged")), actor=None)
    services.segment_save(
        name="Two", description="", rule_tree=AND({"type": "in_segment", "segment_id": one.pk}), actor=None
    )
    with pytest.raises(ValidationError) as exc:
        services.segment_delete(segment=one)
    assert exc.value.messages == [services.ERR_SEGMENT_IN_USE.format(names="Two")]
    assert Segment.objects.filter(pk=one.pk).exists()


def test_constant_event_property(shop):
    # a viewed p1 and p3, bought p1: "viewed X, did not buy X" holds for X = p3.
    # b viewed p9 and bought nothing with a Product ID: holds for p9. c's view has no Product ID.
    side_view = {"event": "Product Viewed", "window": last(30), "filters": []}
    side_buy = {"event": "Charged", "window": last(30), "filters": []}
    tree = AND({"type": "constant_property", "property": "Product ID", "did": side_view, "did_not": side_buy})
    assert matching(tree) == {"a", "b"}
    tree = AND({"type": "constant_property", "property": "Product ID", "did": side_view, "did_also": side_buy})
    assert matching(tree) == {"a"}
    only_p1 = {**side_view, "filters": [f("Product ID", "equals", "p1")]}
    tree = AND({"type": "constant_property", "property": "Product ID", "did": only_p1, "did_not": side_buy})
    assert matching(tree) == set()


def test_compiled_rules_are_one_query(shop, django_assert_num_queries):
    pune = services.segment_save(
        name="Pune", description="", rule_tree=AND({"type": "user_property", **f("City", "equals", "Pune")}), actor=None
    )
    tree = OR(
        AND(
            did("Charged", last(30), [f("Amount", "greater_than", 100)]), did("Added To Cart", last(7), kind="did_not")
        ),
        AND(
            did("Charged", aggregate={"function": "avg", "property": "Amount", "operator": "at_least", "value": 1}),
            {"type": "in_segment", "segment_id": pune.pk},
            {"type": "interest", "event": "Product Viewed", "property": "Category", "value": "Shoes"},
        ),
    )
    ids = selectors.segment_profile_ids(rules=tree, now=NOW)
    with CaptureQueriesContext(connection) as ctx:
        list(ids)
    assert len(ctx.captured_queries) == 1


# --- Time windows in the account timezone ------------------------------------------------

WINDOW_CASES = [
    # Local midnight of 22 Nov (Kolkata) is 21 Nov 18:30 UTC: "last 1 day" starts there.
    (last(1), datetime.datetime(2026, 11, 21, 18, 30, tzinfo=UTC), True),
    (last(1), datetime.datetime(2026, 11, 21, 18, 29, 59, tzinfo=UTC), False),
    (last(1, "weeks"), datetime.datetime(2026, 11, 15, 18, 30, tzinfo=UTC), True),
    (last(1, "weeks"), datetime.datetime(2026, 11, 15, 18, 29, tzinfo=UTC), False),
    (last(1, "months"), datetime.datetime(2026, 10, 22, 18, 30, tzinfo=UTC), True),
    (last(1, "months"), datetime.datetime(2026, 10, 22, 18, 29, tzinfo=UTC), False),
    (last(2, "hours"), NOW - datetime.timedelta(hours=2), True),
    (last(2, "hours"), NOW - datetime.timedelta(hours=2, seconds=1), False),
    (last(30, "minutes"), NOW - datetime.timedelta(minutes=29), True),
    (last(30, "minutes"), NOW - datetime.timedelta(minutes=31), False),
    ({"type": "exactly_ago", "amount": 1}, datetime.datetime(2026, 11, 21, 18, 30, tzinfo=UTC), True),
    ({"type": "exactly_ago", "amount": 1}, datetime.datetime(2026, 11, 22, 18, 29, 59, tzinfo=UTC), True),
    ({"type": "exactly_ago", "amount": 1}, datetime.datetime(2026, 11, 22, 18, 30, tzinfo=UTC), False),
    ({"type": "exactly_ago", "amount": 1}, datetime.datetime(2026, 11, 21, 18, 29, tzinfo=UTC), False),
    ({"type": "on", "date": "2026-11-20"}, datetime.datetime(2026, 11, 19, 18, 30, tzinfo=UTC), True),
    ({"type": "on", "date": "2026-11-20"}, datetime.datetime(2026, 11, 20, 18, 29, tzinfo=UTC), True),
    ({"type": "on", "date": "2026-11-20"}, datetime.datetime(2026, 11, 20, 18, 30, tzinfo=UTC), False),
    ({"type": "on", "date": "2026-11-20"}, datetime.datetime(2026, 11, 19, 18, 29, tzinfo=UTC), False),
    (
        {"type": "between", "date": "2026-11-18", "date2": "2026-11-20"},
        datetime.datetime(2026, 11, 17, 18, 30, tzinfo=UTC),
        True,
    ),
    (
        {"type": "between", "date": "2026-11-18", "date2": "2026-11-20"},
        datetime.datetime(2026, 11, 20, 18, 29, tzinfo=UTC),
        True,
    ),
    (
        {"type": "between", "date": "2026-11-18", "date2": "2026-11-20"},
        datetime.datetime(2026, 11, 20, 18, 30, tzinfo=UTC),
        False,
    ),
    (
        {"type": "between", "date": "2026-11-18", "date2": "2026-11-20"},
        datetime.datetime(2026, 11, 17, 18, 29, tzinfo=UTC),
        False,
    ),
    ({"type": "before", "date": "2026-11-20"}, datetime.datetime(2026, 11, 19, 18, 29, tzinfo=UTC), True),
    ({"type": "before", "date": "2026-11-20"}, datetime.datetime(2026, 11, 19, 18, 30, tzinfo=UTC), False),
    ({"type": "after", "date": "2026-11-20"}, datetime.datetime(2026, 11, 20, 18, 30, tzinfo=UTC), True),
    ({"type": "after", "date": "2026-11-20"}, datetime.datetime(2026, 11, 20, 18, 29, tzinfo=UTC), False),
    ({"type": "ever"}, datetime.datetime(2001, 1, 1, tzinfo=UTC), True),
]


@pytest.mark.parametrize(("window", "at", "inside"), WINDOW_CASES)
def test_time_windows_in_kolkata(db, window, at, inside):
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kolkata"})
    EventFactory(profile=ProfileFactory(identity="p"), name="Login", properties={}, occurred_at=at)
    assert matching(AND(did("Login", window))) == ({"p"} if inside else set())


def test_windows_follow_the_account_timezone(db):
    # 20 Nov 20:00 UTC is 21 Nov in Kolkata but still 20 Nov in New York.
    EventFactory(
        profile=ProfileFactory(identity="p"), name="Login", occurred_at=datetime.datetime(2026, 11, 20, 20, tzinfo=UTC)
    )
    on_20 = AND(did("Login", {"type": "on", "date": "2026-11-20"}))
    Account.objects.update_or_create(pk=1, defaults={"timezone": "Asia/Kolkata"})
    assert matching(on_20) == set()
    Account.objects.filter(pk=1).update(timezone="America/New_York")
    assert matching(on_20) == {"p"}


# --- Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"op": "and", "rules": []}, rules.ERR_EMPTY),
        ("nope", rules.ERR_TREE),
        (AND({"type": "bogus"}), 'Rule 1: "bogus" is not a rule type.'),
        (AND(did("")), "Rule 1: choose an event."),
        (
            AND(did("E", filters=[f("Amount", "greater_than", "lots")])),
            "Rule 1 filter 1: Amount: 'lots' is not a number.",
        ),
        (
            AND(did("E", filters=[f("Amount", "between", 5, 1)])),
            "Rule 1 filter 1: Amount: the first value of between must not be above the second.",
        ),
        (
            AND(did("E", filters=[f("Mode", "contains", True)])),
            'Rule 1 filter 1: Mode: "contains" does not apply to a boolean.',
        ),
        (AND(did("E", filters=[f("Mode", "equals", "")])), "Rule 1 filter 1: Mode: enter a value."),
        (AND(did("E", filters=[{"property": "X", "operator": "like"}])), None),
        (
            AND(did("E", {"type": "last", "amount": 0, "unit": "days"})),
            "Rule 1: the time window needs a whole number between 1 and 3650.",
        ),
        (
            AND(did("E", {"type": "last", "amount": 3, "unit": "years"})),
            "Rule 1: choose minutes, hours, days, weeks or months for the time window.",
        ),
        (
            AND(did("E", {"type": "between", "date": "2026-02-01", "date2": "2026-01-01"})),
            "Rule 1: the end date of the time window is before its start date.",
        ),
        (AND(did("E", {"type": "on", "date": "2026-02-30"})), "Rule 1: the time window needs a date (YYYY-MM-DD)."),
        (
            AND(did("E", aggregate={"function": "sum", "operator": "at_least", "value": 1})),
            "Rule 1: choose the numeric property to sum of.",
        ),
        (
            AND(did("E", aggregate={"function": "count", "operator": "at_least", "value": "x"})),
            "Rule 1: the count filter needs a number.",
        ),
        (AND({"type": "in_segment", "segment_id": 999}), "Rule 1: choose an existing segment."),
        (AND({"type": "in_custom_list", "custom_list_id": 999}), "Rule 1: choose an existing custom list."),
        (
            AND({"type": "interest", "event": "V", "property": "C", "value": "S", "mode": "at_least", "percent": 0}),
            "Rule 1: the percentage must be above 0 and at most 100.",
        ),
        (
            OR(did("E"), {"type": "group", "op": "xor", "rules": [did("E")]}),
            'Rule 2: a group combines its rules with "and" or "or".',
        ),
        (AND({"type": "did_any", "events": []}), "Rule 1: choose at least one event."),
    ],
)
def test_validation_gives_a_clear_message_per_bad_rule(db, tree, message):
    with pytest.raises(ValidationError) as exc:
        rules.validate_rules(tree)
    if message:
        assert exc.value.messages == [message]


def test_validation_reports_every_bad_rule_at_once(db):
    with pytest.raises(ValidationError) as exc:
        rules.validate_rules(AND(did(""), did("E"), {"type": "user_property", "property": "", "operator": "equals"}))
    assert exc.value.messages == ["Rule 1: choose an event.", "Rule 3: choose a property."]


def test_validation_normalises_values(db):
    tree = rules.validate_rules(AND(did("E", filters=[f("Amount", "greater_than", "100", value_type="number")])))
    assert tree == {
        "op": "and",
        "rules": [
            {
                "type": "did",
                "event": "E",
                "window": {"type": "ever"},
                "filters": [{"property": "Amount", "operator": "greater_than", "value_type": "number", "value": 100}],
                "aggregate": None,
            }
        ],
    }


def test_explain_says_rule_by_rule_why(shop):
    tree = AND(
        did("Charged", last(30), [f("Amount", "greater_than", 100)]), did("Added To Cart", last(7), kind="did_not")
    )
    result = selectors.rule_explain(rules=tree, profile=shop["b"], now=NOW)
    assert result["matched"] is False
    assert [line["matched"] for line in result["lines"]] == [True, False]
    assert result["lines"][0]["why"] == "1 matching Charged event in the window"
    assert result["lines"][1]["why"] == "1 matching Added To Cart event in the window"


def test_estimate_is_exact_on_small_audiences_and_scales_a_sample_on_large_ones(shop, monkeypatch):
    tree = AND(did("Charged", last(30)))
    assert selectors.audience_estimate(rules=tree, now=NOW) == 4
    assert selectors.audience_count(rules=tree, now=NOW) == 4
    monkeypatch.setattr(selectors, "ESTIMATE_EXACT_BELOW", 0)
    monkeypatch.setattr(selectors, "ESTIMATE_SAMPLE_TARGET", 1)
    from segments.models import Profile, sample_bucket_for

    in_sample = [p for p in "abcde" if sample_bucket_for(p) == 0]
    Profile.objects.filter(identity__in=["a", "b"]).update(sample_bucket=0)
    Profile.objects.exclude(identity__in=["a", "b"]).update(sample_bucket=70)
    # Both sampled profiles match, so the estimate is all 5 profiles.
    assert selectors.audience_estimate(rules=tree, now=NOW) == 5
    assert in_sample is not None


def test_round_estimate_keeps_three_significant_figures():
    assert selectors.round_estimate(798_421.4) == 798_000
    assert selectors.round_estimate(999.6) == 1000
    assert selectors.round_estimate(12_345) == 12_300
    assert selectors.round_estimate(57) == 57
