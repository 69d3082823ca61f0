"""Rule trees in words (issue #16): what the Who summaries show a marketer before publishing."""

import pytest

from segments.wording import rules_in_words
from tests.promotions.factories import CustomListFactory, SegmentFactory

pytestmark = pytest.mark.django_db

CHARGED_30_DAYS = {
    "type": "did",
    "event": "Charged",
    "window": {"type": "last", "amount": 30, "unit": "days"},
    "filters": [{"property": "Amount", "operator": "greater_than", "value": 1000, "value_type": "number"}],
}
CITY_PUNE = {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune", "value_type": "string"}


def test_the_issue_example_reads_as_one_sentence():
    tree = {"op": "and", "rules": [CHARGED_30_DAYS, CITY_PUNE]}
    assert (
        rules_in_words(tree) == "Did Charged at least once in the last 30 days, where Amount > 1000, and City is Pune"
    )


def test_or_groups_nest_in_parentheses_and_aggregates_say_how_often():
    tree = {
        "op": "or",
        "rules": [
            {
                "type": "did",
                "event": "App Launched",
                "window": {"type": "ever"},
                "filters": [],
                "aggregate": {"function": "count", "operator": "at_least", "value": 3},
            },
            {"type": "group", "op": "and", "rules": [CITY_PUNE, {**CITY_PUNE, "property": "Device", "value": "iOS"}]},
        ],
    }
    assert rules_in_words(tree) == "Did App Launched at least 3 times, or (City is Pune, and Device is iOS)"


def test_segments_and_lists_are_named_and_other_operators_read_plainly():
    segment = SegmentFactory(name="Pune users")
    vip = CustomListFactory(name="VIP customers")
    tree = {
        "op": "and",
        "rules": [
            {"type": "in_segment", "segment_id": segment.pk},
            {"type": "not_in_custom_list", "custom_list_id": vip.pk},
            {"type": "did_not", "event": "Charged", "window": {"type": "last", "amount": 1, "unit": "weeks"}},
            {"type": "user_property", "property": "Email", "operator": "exists", "value_type": "string"},
            {**CITY_PUNE, "operator": "not_equals"},
        ],
    }
    assert rules_in_words(tree) == (
        "In segment Pune users, and Not in custom list VIP customers, and Did not do Charged in the last 1 week, "
        "and Email is set, and City is not Pune"
    )


def test_empty_tree_is_empty():
    assert rules_in_words({}) == "" and rules_in_words(None) == ""
