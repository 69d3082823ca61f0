"""Events the app records itself (a campaign's rewards), from rows or from column arrays, set-based."""

import datetime
import json
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from core import db
from core.db import row_triggers_skippable, row_triggers_skipped
from segments import live
from segments.models import EventDefinition, EventPropertyDefinition
from segments.services.records import ParsedRecord
from segments.services.storing import catalogue_update


def system_events_record(*, events: list[tuple[int, str, dict]], now: datetime.datetime | None = None) -> list[int]:
    """Record system events (`Points Credited`, …) for profiles: one insert, the catalogue kept current,
    and the same live-matching hook as uploaded events (an outbox row). Call inside the caller's transaction.

    `events` holds (profile id, event name, properties); returns the new event ids.
    """
    if not events:
        return []
    now = now or timezone.now()
    # The rows travel as one JSON document: half the time of arrays of per-row JSON strings,
    # which the client-side binding quotes one by one.
    document = json.dumps([{"p": pid, "n": name, "d": props} for pid, name, props in events], default=str)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO segments_event (profile_id, name, properties, occurred_at, received_at)
            SELECT (e->>'p')::bigint, e->>'n', e->'d', %s, %s FROM jsonb_array_elements(%s::jsonb) AS e
            RETURNING id
            """,
            [now, now, document],
        )
        ids = [row[0] for row in cursor.fetchall()]
    _system_events_recorded(
        samples={(name, tuple(sorted(props))): props for _, name, props in events}, ids=ids, now=now
    )
    return ids


def system_events_record_columns(
    *, name: str, profile_ids: list[int], common: dict, varying: dict[str, list], now: datetime.datetime
) -> list[int]:
    """Record one `name` system event per profile, built in the database: a run's chunk of rewards.

    Properties = `common` plus, per row, `varying[key][i]` (all numbers or all strings per key;
    a number keeps no trailing zeros, like `system_events.system_event`). One INSERT from
    arrays, so 5,000 events cost no Python objects; catalogue and live hook as
    `system_events_record`. `profile_ids` ascending, each once; unknown ones are skipped. Call
    inside the caller's transaction.
    """
    if not profile_ids:
        return []
    profiles = list(profile_ids)
    if profiles != sorted(profiles):
        raise ValueError("system_events_record_columns takes the profile ids in ascending order.")
    # A key whose values are all equal (a flat run's points) is common to the rows: one value in
    # the statement, not an array of thousands of copies.
    same = {key: values[0] for key, values in varying.items() if all(v == values[0] for v in values)}
    common = {**common, **{key: json_number(value) for key, value in same.items()}}
    varying = {key: values for key, values in varying.items() if key not in same}
    columns = []
    params = {"name": name, "common": json.dumps(common), "now": now, "ids": db.int_array(profiles)}
    params.update(low=profiles[0], high=profiles[-1])
    for n, (key, values) in enumerate(varying.items()):
        numeric = all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in values if v is not None)
        params[f"k{n}"] = key
        params[f"v{n}"] = db.numeric_array(values) if numeric else db.text_array(values)
        columns.append(
            (
                f"v{n}",
                "numeric" if numeric else "text",
                f"%(k{n})s::text, " + (f"trim_scale(t.v{n})" if numeric else f"t.v{n}"),
            )
        )
    skip = row_triggers_skippable()
    arrays = "".join(f", %({col})s::{kind}[]" for col, kind, _ in columns)  # literals: core/db.py
    names = "".join(f", {col}" for col, _, _ in columns)
    pairs = ", ".join(pair for _, _, pair in columns)
    # The profiles are locked FOR KEY SHARE when the per-row FK triggers are skipped (core/db.py).
    sql = f"""
        INSERT INTO segments_event (profile_id, name, properties, occurred_at, received_at)
        SELECT t.profile_id, %(name)s, %(common)s::jsonb || jsonb_build_object({pairs}), %(now)s, %(now)s
        FROM unnest(%(ids)s::bigint[]{arrays}) AS t(profile_id{names})
        JOIN segments_profile AS p ON p.id = t.profile_id AND p.id BETWEEN %(low)s AND %(high)s
        ORDER BY t.profile_id
        {"FOR KEY SHARE OF p" if skip else ""}
        RETURNING id
    """  # noqa: S608 (placeholders and constants only)
    with connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip):
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    # The catalogue sees the properties as stored (JSON numbers), like system_events_record's.
    sample = {**common, **{key: json_number(values[0]) for key, values in varying.items()}}
    _system_events_recorded(samples={(name, tuple(sorted(sample))): sample}, ids=ids, now=now)
    return ids


def json_number(value):
    """A Decimal as the JSON number it stands for (no trailing zeros), like trim_scale in SQL."""
    if not isinstance(value, Decimal):
        return value
    return int(value) if value == value.to_integral_value() else float(value)


def _system_events_recorded(*, samples: dict, ids: list[int], now: datetime.datetime) -> None:
    """After system events are stored: keep the catalogue current, and owe their live matching."""
    # One record per distinct (name, property set) is enough for the catalogue, and only when
    # something is new: upserting the definition row every time would serialise all rewards on it.
    names = {name for name, _ in samples}
    defined = set(EventDefinition.objects.filter(name__in=names).values_list("name", flat=True))
    known = set(EventPropertyDefinition.objects.filter(event__name__in=names).values_list("event__name", "name"))
    fresh = [
        ParsedRecord("event", "", now, name=name, data=props)
        for (name, keys), props in samples.items()
        if name not in defined or any((name, key) not in known for key in keys)
    ]
    if fresh:
        catalogue_update(records=fresh, now=now)
    live.events_stored(event_ids=ids)
