"""The words of the rule language: rule types, operators, windows and units, limits, and messages."""

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
