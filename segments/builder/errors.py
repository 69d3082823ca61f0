"""The rule language's messages as the builder shows them: by row, without the rows still blank."""

from django.core.exceptions import ValidationError

from accounts import dates
from segments import rules as R
from segments.builder.controls import ERROR_PATH, PREFIX, RULE_TYPES_WITH_EVENT, tree_depth


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
    if not isinstance(tree, dict) or not isinstance(tree.get("rules"), list) or tree_depth(tree) > 2:
        return out
    for i, rule in enumerate(tree["rules"]):
        out[str(i + 1)] = f"{PREFIX}-rules-{i}"
        if isinstance(rule, dict) and isinstance(rule.get("rules"), list):
            for j, _ in enumerate(rule["rules"]):
                out[f"{i + 1}.{j + 1}"] = f"{PREFIX}-rules-{i}-rules-{j}"
    return out
