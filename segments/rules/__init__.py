"""Segment rule trees (SPEC 2.4): their JSON shape (below), validation (`validation`), compilation to
one SQL query (`compiler`) and wording (`description`); the names other modules use are exported here.

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

from segments.rules.compiler import JsonDate, JsonNumber, RuleCompiler, compile_rules, filter_q, window_bounds
from segments.rules.description import describe, describe_filter, describe_window
from segments.rules.validation import (
    infer_type,
    referenced_custom_lists,
    referenced_segments,
    validate_filters,
    validate_rules,
)
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

__all__ = [
    "AGG_FUNCTIONS",
    "AGG_OPERATORS",
    "ERR_CYCLE",
    "ERR_EMPTY",
    "ERR_TREE",
    "INTEREST_MODES",
    "MAX_DEPTH",
    "MAX_RULES",
    "OPERATORS",
    "OPERATORS_BY_TYPE",
    "OPS",
    "RULE_TYPES",
    "UNITS",
    "VALUE_TYPES",
    "WINDOW_TYPES",
    "JsonDate",
    "JsonNumber",
    "RuleCompiler",
    "compile_rules",
    "describe",
    "describe_filter",
    "describe_window",
    "filter_q",
    "infer_type",
    "referenced_custom_lists",
    "referenced_segments",
    "validate_filters",
    "validate_rules",
    "window_bounds",
]
