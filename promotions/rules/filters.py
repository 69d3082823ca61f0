"""Property filter rows (a trigger event's, the conversion goal's): a row as typed or as stored, and
the rule every row meets: valid for the audience app, and a property of its event in the catalogue."""

import re

from django.core.exceptions import ValidationError

from accounts import dates
from promotions import catalogue

FILTER_PARTS = ("property", "operator", "value", "value2")
MAX_TRIGGER_FILTERS = 20

MSG_FILTER_NOT_OF_EVENT = "{property} is not a property of {event} in the event catalogue."


def filter_text(value) -> str:
    """A stored filter value as the row's input shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def filter_row(parts: dict, types: dict) -> dict:
    """One row's typed parts, with its property's type from the event's catalogue (`types`); a date
    is typed as the app shows it and the rules store ISO."""
    node = dict(parts)
    if types.get(node["property"]):
        node["value_type"] = types[node["property"]]
    if node.get("value_type") == "date":
        for key in ("value", "value2"):
            if isinstance(node.get(key), str):
                node[key] = dates.date_iso(node[key])
    return node


def stored_rows(filters, types: dict) -> list[dict]:
    """A saved trigger's or goal's filters read back as the rows the builder would post."""
    rows = [f for f in filters or [] if isinstance(f, dict)][:MAX_TRIGGER_FILTERS]
    return [filter_row({part: filter_text(f.get(part)) for part in FILTER_PARTS}, types) for f in rows]


def filter_rows_check(rows: list[dict], *, event: str, known: dict) -> tuple[list, list[tuple[int, str]]]:
    """The rows in the shape promotions/engine/live.py reads, and (row index, message) for each bad row.

    `known`: the event's catalogued properties; a row on another property is refused (a typo would
    match nothing) when an event is chosen."""
    clean, problems = [], []
    for j, node in enumerate(rows):
        try:
            row = catalogue.validate_filters([node])
        except ValidationError as exc:
            for message in exc.messages:
                message = re.sub(r"^Rule trigger filter 1: ", "", message)
                problems.append((j, message[:1].upper() + message[1:]))
            continue
        if event and row[0]["property"] not in known:
            problems.append((j, MSG_FILTER_NOT_OF_EVENT.format(property=row[0]["property"], event=event)))
            continue
        clean.extend(row)
    return clean, problems
