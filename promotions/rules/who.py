"""Who: the audience (a segment, a custom list or rules), a live campaign's trigger events and their
property filters, or an inaction's two events; every event and property one of the catalogue's."""

from django.core.exceptions import ValidationError

from promotions import catalogue
from promotions.models import Campaign
from promotions.rules.errors import Errors, add, check_choice, check_present, merge
from promotions.rules.filters import filter_rows_check, stored_rows

C = Campaign
MAX_TRIGGERS = 10

MSG_RULES_JSON = "Enter the rules as a JSON object."
MSG_FILTER_ROW = "Trigger event {trigger}, filter {row}: {message}"
MSG_SAME_EVENTS = "Event B must differ from event A."
MSG_CONSTANT_PROPERTY = "Constant event property: choose a property that both event A and event B have."


def rules_object(value, *, required: bool) -> dict:
    """An audience rule tree (or the optional past-behaviour filter) normalised by the audience app;
    raises ValidationError with the audience app's message per bad rule."""
    if not isinstance(value, dict) or (required and not value):
        raise ValidationError(MSG_RULES_JSON)
    if not required and "type" not in value and not value.get("rules"):
        return {}  # the optional filter left with no rule (the visual builder posts {"op": "and", "rules": []})
    return catalogue.validate_rules(value)


def trigger_filters_check(i: int, *, event: str, rows: list[dict], known: dict) -> tuple[list, Errors]:
    """Trigger i's filter rows: the filters to store, and one error per bad row on `trigger_filters_i`."""
    clean, problems = filter_rows_check(rows, event=event, known=known)
    errors: Errors = {}
    for j, message in problems:
        add(errors, f"trigger_filters_{i}", MSG_FILTER_ROW.format(trigger=i + 1, row=j + 1, message=message))
    return clean, errors


def shared_properties(event_a: str, event_b: str, props=catalogue.event_properties) -> list[str]:
    """The properties events A and B both have in the catalogue: the constant property's choices."""
    return sorted({p for p, _ in props(event_a)} & {p for p, _ in props(event_b)})


def inaction_errors(event_a: str | None, event_b: str | None) -> Errors:
    """Event B is what the user does not do after A: it must be another event."""
    return {"inaction_event_b": [MSG_SAME_EVENTS]} if event_a and event_b and event_a == event_b else {}


def _filter_errors(errors: Errors, name: str, value) -> None:
    try:
        rules_object(value or {}, required=name == "rules")
    except ValidationError as exc:
        errors.setdefault(name, []).extend(exc.messages)


def stored_errors(campaign: Campaign) -> Errors:
    """The saved Who section re-checked against the qualification and today's catalogue."""
    c = campaign
    errors: Errors = {}
    if not c.is_live:
        source = c.audience_source
        check_choice(errors, "audience_source", source, C.AudienceSource.values)
        if source == C.AudienceSource.SEGMENT:
            check_choice(errors, "segment", c.segment_id, catalogue.segments())
        elif source == C.AudienceSource.CUSTOM_LIST:
            check_choice(errors, "custom_list", c.custom_list_id, catalogue.custom_lists())
        elif source == C.AudienceSource.RULES:
            _filter_errors(errors, "rules", c.rules)
        return errors
    events = catalogue.event_names()
    if c.qualification == C.Qualification.LIVE_ACTION:
        triggers = c.triggers or []
        if len(triggers) > MAX_TRIGGERS:
            add(errors, "trigger_count", f"Ensure this value is less than or equal to {MAX_TRIGGERS}.")
        for i in range(max(1, min(MAX_TRIGGERS, len(triggers)))):
            trigger = triggers[i] if i < len(triggers) else {}
            event = trigger.get("event", "") or ""
            check_choice(errors, f"trigger_event_{i}", event, events)
            known = dict(catalogue.event_properties(event)) if event else {}
            rows = stored_rows(trigger.get("filters"), known)
            merge(errors, trigger_filters_check(i, event=event, rows=rows, known=known)[1])
    else:
        a, b = c.inaction_event_a, c.inaction_event_b
        valid_a = check_choice(errors, "inaction_event_a", a, events)
        valid_b = check_choice(errors, "inaction_event_b", b, events)
        check_present(errors, "inaction_window_value", c.inaction_window_value)
        check_choice(errors, "inaction_window_unit", c.inaction_window_unit, C.WindowUnit.values)
        shared = shared_properties(a, b) if a and b else []
        check_choice(
            errors, "constant_property", c.constant_property, shared, required=False, message=MSG_CONSTANT_PROPERTY
        )
        merge(errors, inaction_errors(a if valid_a else None, b if valid_b else None))
    _filter_errors(errors, "past_filter", c.past_filter)
    return errors
