"""Writes for the audience: the upload API's batch store, the catalogue, custom lists, segments."""

import csv
import datetime
import hashlib
import io
import json
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from config import input_checks, outbox, pg_arrays
from config.csv_safety import csv_safe
from config.row_triggers import row_triggers_skippable, row_triggers_skipped
from segments import live, rules, selectors
from segments.models import (
    CustomList,
    CustomListMember,
    CustomListUpload,
    EventDefinition,
    EventPropertyDefinition,
    Profile,
    ProfilePropertyDefinition,
    PropertyType,
    Segment,
    sample_bucket_for,
)

log = logging.getLogger(__name__)

# --- Upload API (SPEC 2.2) -------------------------------------------------------------

MAX_RECORDS = 1000
MAX_PROPERTIES = 256
MAX_KEY_LENGTH = 120
MAX_VALUE_BYTES = 512
MAX_IDENTITY_LENGTH = 256
MAX_EVENT_NAME_LENGTH = 120
# Epoch seconds later than this are almost certainly milliseconds (year 2286).
MAX_EPOCH_SECONDS = 9_999_999_999

ERR_NOT_OBJECT = "Invalid record: each record must be a JSON object."
ERR_TYPE = 'Record is neither an event nor a profile: "type" must be "event" or "profile".'
ERR_IDENTITY = "Missing identity."
ERR_IDENTITY_TOO_LONG = f"identity is longer than {MAX_IDENTITY_LENGTH} characters."
ERR_TS = '"ts" must be a UNIX epoch in seconds (an integer).'
ERR_EVENT_NAME = 'Event name missing: "evtName" is required.'
ERR_EVENT_NAME_TYPE = 'Invalid event structure: "evtName" must be a string.'
ERR_EVENT_NAME_TOO_LONG = f'"evtName" is longer than {MAX_EVENT_NAME_LENGTH} characters.'
ERR_EVT_DATA = 'Invalid event structure: "evtData" must be a JSON object.'
ERR_PROFILE_DATA = 'Invalid profile structure: "profileData" must be a JSON object.'
ERR_NESTED = 'Invalid structure: property "{key}" must be a string, number, boolean or null.'
ERR_TOO_MANY = f"Too many properties: at most {MAX_PROPERTIES} per record."
ERR_KEY_TOO_LONG = f"Property key longer than {MAX_KEY_LENGTH} characters: " + '"{key}…".'
ERR_VALUE_TOO_LONG = f'Value of "{{key}}" is longer than {MAX_VALUE_BYTES} bytes.'
MAX_EVENT_ID_LENGTH = 128
ERR_EVENT_ID = (
    f'Invalid event structure: "evtId" must be a string or integer of at most {MAX_EVENT_ID_LENGTH} characters.'
)
# A value PostgreSQL cannot store (NUL, unpaired surrogate, Infinity / NaN, deep nesting): code 512.
ERR_UNSTORABLE = 'Invalid value: "{path}" {reason}.'


@dataclass
class UploadResult:
    processed: int = 0
    unprocessed: list = field(default_factory=list)
    event_ids: list = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.unprocessed:
            return "success"
        return "partial" if self.processed else "fail"

    def as_json(self) -> dict:
        return {"status": self.status, "processed": self.processed, "unprocessed": self.unprocessed}


class RecordError(Exception):
    def __init__(self, code: int, error: str):
        super().__init__(error)
        self.code = code
        self.error = error


@dataclass
class _Record:
    kind: str
    identity: str
    at: datetime.datetime
    name: str = ""
    data: dict = field(default_factory=dict)
    dedup_key: uuid.UUID | None = None


def _storable(value, *, path: str) -> None:
    """Code 512 for any part of `value` PostgreSQL cannot store (config/input_checks.py)."""
    problem = input_checks.value_problem(value, path=path)
    if problem is not None:
        raise RecordError(512, ERR_UNSTORABLE.format(path=problem[0][:80], reason=problem[1]))


def event_dedup_key(*, identity: str, name: str, ts: int | None, data: dict, event_id: str | None) -> uuid.UUID | None:
    """What makes a re-sent event the same event: the client's `evtId` (per identity) when sent,
    else (identity, evtName, ts, evtData with sorted keys) when the client sent `ts`; None (never
    de-duplicated) for an event stamped with the server's time. 16 bytes, as a uuid.

    A content key starts with `ts` (5 bytes, big-endian) and ends with 88 bits of SHA-256: events
    arrive roughly in time order, so new keys land at the right edge of the unique index instead
    of at random pages of a 10M-entry btree (a random-keyed index cut ingest 4.8x in our
    measurements, docs reference). An evtId key is 0xFF then 120 bits of SHA-256: the two kinds
    never collide (a ts fits in 5 bytes with a first byte of at most 0x02)."""
    if event_id is not None:
        material = json.dumps(["id", identity, event_id], separators=(",", ":"))
        return uuid.UUID(bytes=b"\xff" + hashlib.sha256(material.encode()).digest()[:15])
    if ts is None:
        return None
    material = json.dumps([identity, name, ts, data], sort_keys=True, separators=(",", ":"))
    return uuid.UUID(bytes=ts.to_bytes(5, "big") + hashlib.sha256(material.encode()).digest()[:11])


def _check_properties(data, *, structure_error: str, path: str) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecordError(512, structure_error)
    _storable(data, path=path)
    if len(data) > MAX_PROPERTIES:
        raise RecordError(522, ERR_TOO_MANY)
    for key, value in data.items():
        if len(key) > MAX_KEY_LENGTH:
            raise RecordError(526, ERR_KEY_TOO_LONG.format(key=key[:40]))
        if isinstance(value, dict | list):
            raise RecordError(512, ERR_NESTED.format(key=key))
        if isinstance(value, str) and len(value.encode()) > MAX_VALUE_BYTES:
            raise RecordError(526, ERR_VALUE_TOO_LONG.format(key=key))
    return data


def record_parse(record, *, now: datetime.datetime) -> _Record:
    """Validate one upload record; raises RecordError with the SPEC 2.2 code."""
    if not isinstance(record, dict):
        raise RecordError(512, ERR_NOT_OBJECT)
    kind = record.get("type")
    if kind not in ("event", "profile"):
        raise RecordError(524, ERR_TYPE)
    identity = record.get("identity")
    if isinstance(identity, int) and not isinstance(identity, bool):
        identity = str(identity)
    if not isinstance(identity, str) or not identity.strip():
        raise RecordError(523, ERR_IDENTITY)
    _storable(identity, path="identity")
    identity = identity.strip()
    if len(identity) > MAX_IDENTITY_LENGTH:
        raise RecordError(526, ERR_IDENTITY_TOO_LONG)
    ts = record.get("ts")
    if ts is None:
        at = now
    else:
        if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts <= MAX_EPOCH_SECONDS:
            raise RecordError(525, ERR_TS)
        at = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    if kind == "event":
        name = record.get("evtName")
        if name is None or (isinstance(name, str) and not name.strip()):
            raise RecordError(509, ERR_EVENT_NAME)
        if not isinstance(name, str):
            raise RecordError(512, ERR_EVENT_NAME_TYPE)
        _storable(name, path="evtName")
        name = name.strip()
        if len(name) > MAX_EVENT_NAME_LENGTH:
            raise RecordError(526, ERR_EVENT_NAME_TOO_LONG)
        event_id = record.get("evtId")
        if event_id is not None:
            if isinstance(event_id, int) and not isinstance(event_id, bool):
                event_id = str(event_id)
            if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_EVENT_ID_LENGTH:
                raise RecordError(512, ERR_EVENT_ID)
            _storable(event_id, path="evtId")
            event_id = event_id.strip()
        data = _check_properties(record.get("evtData"), structure_error=ERR_EVT_DATA, path="evtData")
        key = event_dedup_key(identity=identity, name=name, ts=ts, data=data, event_id=event_id)
        return _Record("event", identity, at, name=name, data=data, dedup_key=key)
    data = _check_properties(record.get("profileData"), structure_error=ERR_PROFILE_DATA, path="profileData")
    return _Record("profile", identity, at, data=data)


def property_type(value) -> str | None:
    """The catalogue type of a property value (None for null, which says nothing)."""
    if isinstance(value, bool):
        return PropertyType.BOOLEAN
    if isinstance(value, int | float):
        return PropertyType.NUMBER
    if isinstance(value, str):
        if len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-" and value[:4].isdigit():
            try:
                datetime.date.fromisoformat(value[:10])
            except ValueError:
                return PropertyType.STRING
            return PropertyType.DATE
        return PropertyType.STRING
    return None


def upload_records(*, records: list, now: datetime.datetime | None = None) -> UploadResult:
    """Store a batch of upload records set-based: valid ones stored, bad ones reported by index."""
    now = now or timezone.now()
    result = UploadResult()
    parsed: list[tuple[int, _Record]] = []
    for index, record in enumerate(records):
        try:
            parsed.append((index, record_parse(record, now=now)))
        except RecordError as exc:
            result.unprocessed.append({"index": index, "code": exc.code, "error": exc.error})
    if not parsed:
        return result
    with transaction.atomic():
        result.event_ids = _store(records=[r for _, r in parsed], now=now)
        if result.event_ids:
            # In the transaction: the batch's live matching is owed exactly when its events commit.
            live.events_stored(event_ids=list(result.event_ids))
    result.processed = len(parsed)
    return result


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
    columns = []
    params = {"name": name, "common": json.dumps(common), "now": now, "ids": pg_arrays.int_array(profiles)}
    params.update(low=profiles[0], high=profiles[-1])
    for n, (key, values) in enumerate(varying.items()):
        numeric = all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in values if v is not None)
        params[f"k{n}"] = key
        params[f"v{n}"] = pg_arrays.numeric_array(values) if numeric else pg_arrays.text_array(values)
        columns.append(
            (
                f"v{n}",
                "numeric" if numeric else "text",
                f"%(k{n})s::text, " + (f"trim_scale(t.v{n})" if numeric else f"t.v{n}"),
            )
        )
    skip = row_triggers_skippable()
    arrays = "".join(f", %({col})s::{kind}[]" for col, kind, _ in columns)  # literals: config/pg_arrays.py
    names = "".join(f", {col}" for col, _, _ in columns)
    pairs = ", ".join(pair for _, _, pair in columns)
    # The profiles are locked FOR KEY SHARE when the per-row FK triggers are skipped (config/row_triggers.py).
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
        _Record("event", "", now, name=name, data=props)
        for (name, keys), props in samples.items()
        if name not in defined or any((name, key) not in known for key in keys)
    ]
    if fresh:
        catalogue_update(records=fresh, now=now)
    live.events_stored(event_ids=ids)


def _store(*, records: list[_Record], now: datetime.datetime) -> list[int]:
    # Merge every record's effect per identity first: one upsert row per profile, in
    # identity order so concurrent batches lock profile rows in the same order.
    merged: dict[str, dict] = {}
    for rec in records:
        entry = merged.setdefault(rec.identity, {"props": {}, "first": rec.at, "last": rec.at})
        entry["first"] = min(entry["first"], rec.at)
        entry["last"] = max(entry["last"], rec.at)
        if rec.kind == "profile":
            entry["props"].update(rec.data)
    identities = sorted(merged)
    profile_ids = _profiles_upsert(identities=identities, merged=merged)

    events = [rec for rec in records if rec.kind == "event"]
    ids = _events_insert(events=events, profile_ids=profile_ids, now=now) if events else []
    catalogue_update(records=records, now=now)
    return ids


def _events_insert(*, events: list[_Record], profile_ids: dict[str, int], now: datetime.datetime) -> list[int]:
    """Store a batch's events in one statement; returns their ids.

    The columns travel as array literals (config/pg_arrays.py) instead of 1,000
    model instances, and the per-row FK check on the profile is skipped where the role may
    (config/row_triggers.py): every profile the events name was inserted or updated by the
    batch's upsert just before, in this transaction, so it is locked until commit already.
    """
    # A key repeated inside the batch is stored once (the first); across batches and concurrent
    # requests the partial unique index decides: ON CONFLICT DO NOTHING skips an event already
    # stored (or being stored by a transaction that commits first), so only new events come back.
    seen: set = set()
    fresh = []
    for rec in events:
        if rec.dedup_key is not None:
            if rec.dedup_key in seen:
                continue
            seen.add(rec.dedup_key)
        fresh.append(rec)
    params = {
        "profiles": pg_arrays.int_array(profile_ids[rec.identity] for rec in fresh),
        "names": pg_arrays.text_array(rec.name for rec in fresh),
        "props": pg_arrays.text_array(json.dumps(rec.data) for rec in fresh),
        "at": pg_arrays.text_array(rec.at.isoformat() for rec in fresh),
        "keys": pg_arrays.text_array(None if rec.dedup_key is None else str(rec.dedup_key) for rec in fresh),
        "now": now,
    }
    skip = row_triggers_skippable()
    with connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip):
        cursor.execute(
            """
            INSERT INTO segments_event (profile_id, name, properties, occurred_at, received_at, dedup_key)
            SELECT t.profile_id, t.name, t.props::jsonb, t.at, %(now)s, t.dedup_key
            FROM unnest(
                %(profiles)s::bigint[], %(names)s::text[], %(props)s::text[], %(at)s::timestamptz[], %(keys)s::uuid[]
            ) WITH ORDINALITY AS t(profile_id, name, props, at, dedup_key, n)
            ORDER BY t.n
            ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
            RETURNING id
            """,
            params,
        )
        return [row[0] for row in cursor.fetchall()]


def _profiles_upsert(*, identities: list[str], merged: dict) -> dict[str, int]:
    sql = """
        INSERT INTO segments_profile (identity, properties, first_seen, last_seen, sample_bucket)
        SELECT t.identity, t.props::jsonb, t.first_seen, t.last_seen, t.bucket
        FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::smallint[])
             AS t(identity, props, first_seen, last_seen, bucket)
        ORDER BY t.identity
        ON CONFLICT (identity) DO UPDATE SET
            properties = segments_profile.properties || EXCLUDED.properties,
            first_seen = LEAST(segments_profile.first_seen, EXCLUDED.first_seen),
            last_seen = GREATEST(segments_profile.last_seen, EXCLUDED.last_seen)
        RETURNING id, identity
    """
    params = [  # array literals: config/pg_arrays.py
        pg_arrays.text_array(identities),
        pg_arrays.text_array(json.dumps(merged[i]["props"]) for i in identities),
        pg_arrays.text_array(merged[i]["first"].isoformat() for i in identities),
        pg_arrays.text_array(merged[i]["last"].isoformat() for i in identities),
        pg_arrays.int_array(sample_bucket_for(i) for i in identities),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {identity: pk for pk, identity in cursor.fetchall()}


def catalogue_update(*, records: list[_Record], now: datetime.datetime) -> None:
    """Keep the event and profile-property catalogues current: one upsert per table per batch."""
    event_props: dict[str, dict[str, str]] = {}
    profile_props: dict[str, str] = {}
    for rec in records:
        if rec.kind == "event":
            props = event_props.setdefault(rec.name, {})
            for key, value in rec.data.items():
                kind = property_type(value)
                if kind and key not in props:
                    props[key] = kind
        else:
            for key, value in rec.data.items():
                kind = property_type(value)
                if kind and key not in profile_props:
                    profile_props[key] = kind
    if event_props:
        definitions = EventDefinition.objects.bulk_create(
            [EventDefinition(name=name, first_seen=now, last_seen=now) for name in sorted(event_props)],
            update_conflicts=True,
            unique_fields=["name"],
            update_fields=["last_seen"],
        )
        by_name = {d.name: d.pk for d in definitions}
        rows = [
            EventPropertyDefinition(event_id=by_name[name], name=key, type=kind)
            for name in sorted(event_props)
            for key, kind in sorted(event_props[name].items())
        ]
        if rows:
            # The first type seen wins; a later different type does not flip the catalogue.
            EventPropertyDefinition.objects.bulk_create(rows, ignore_conflicts=True)
    if profile_props:
        ProfilePropertyDefinition.objects.bulk_create(
            [ProfilePropertyDefinition(name=key, type=kind) for key, kind in sorted(profile_props.items())],
            ignore_conflicts=True,
        )


# --- Segments ---------------------------------------------------------------------------

ERR_SEGMENT_IN_USE = "This segment is used by another segment ({names}); remove it there first."


def segment_save(*, segment: Segment | None = None, name: str, description: str, rule_tree: dict, actor) -> Segment:
    """Create or update a segment after validating its rule tree (cycles included)."""
    normalised = rules.validate_rules(rule_tree, segment_id=segment.pk if segment else None)
    with transaction.atomic():
        if segment is None:
            segment = Segment(created_by=actor)
        segment.name = name
        segment.description = description
        segment.rules = normalised
        segment.audience_size = None
        segment.audience_computed_at = None
        segment.save()
    return segment


def segment_refresh_size(*, segment: Segment) -> Segment:
    """Compute the exact audience size now and store it with the time."""
    size = selectors.audience_count(rules=segment.rules)
    Segment.objects.filter(pk=segment.pk).update(audience_size=size, audience_computed_at=timezone.now())
    segment.refresh_from_db()
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment unless another segment refers to it."""
    users = [s.name for s in Segment.objects.exclude(pk=segment.pk) if segment.pk in rules.referenced_segments(s.rules)]
    if users:
        raise ValidationError(ERR_SEGMENT_IN_USE.format(names=", ".join(sorted(users))))
    segment.delete()


# --- Custom lists (SPEC 2.3) ------------------------------------------------------------

MAX_CSV_BYTES = 50 * 1024 * 1024
CSV_HEADER = ["Type", "Identity"]
ERR_CSV_TOO_LARGE = "The file is larger than 50 MB; split it into smaller lists."
ERR_CSV_EMPTY = "The file is empty: it needs the header Type,Identity and at least one row."
ERR_CSV_NOT_UTF8 = "The file is not UTF-8 text: save it as CSV UTF-8 and upload again."
ERR_CSV_HEADER = 'The first line must be the header "Type,Identity" (found "{found}").'
ERR_CSV_NO_ROWS = "The file has a header but no rows."
ERR_LIST_IN_USE = "This list is used by a scheduled or running campaign ({names}); stop it before replacing the list."
ERR_LIST_NAME_TAKEN = "A custom list with this name already exists."
ROW_BAD_TYPE = 'Type must be "i" (identity)'
ROW_BAD_IDENTITY = "Identity is empty or longer than 256 characters"
ROW_UNKNOWN = "No profile with this identity"
ROW_COLUMNS = "Expected two columns: Type,Identity"
ROW_UNSTORABLE = "Row {reason}"
ERR_CSV_FAILED = "The file could not be processed; upload it again or contact support."
CHUNK_ROWS = 5000
CUSTOM_LIST_TASK = "segments.custom_list_process"


# "Who uses this custom list now?", asked of the apps above segments, which segments never imports
# (tests/test_architecture.py): each receiver returns the names of its scheduled or running users of
# `custom_list` (promotions answers with its campaigns: promotions/receivers.py). Sent synchronously,
# inside the caller's transaction, so the answer sees the caller's locks.
custom_list_users = Signal()


def custom_list_used_by(*, custom_list: CustomList) -> list[str]:
    """The names of what uses the list now (a scheduled or running campaign, however it uses it)."""
    return [name for _, names in custom_list_users.send(sender=CustomList, custom_list=custom_list) for name in names]


def custom_list_in_use(*, custom_list: CustomList) -> bool:
    return bool(custom_list_used_by(custom_list=custom_list))


def csv_check(*, uploaded_file) -> None:
    """Cheap checks before anything is stored: size (before reading), encoding, header, not empty."""
    if uploaded_file.size > MAX_CSV_BYTES:
        raise ValidationError({"file": ERR_CSV_TOO_LARGE})
    if uploaded_file.size == 0:
        raise ValidationError({"file": ERR_CSV_EMPTY})
    uploaded_file.seek(0)
    head = uploaded_file.read(64 * 1024)
    uploaded_file.seek(0)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A multi-byte character may be cut at the end of the sample; anything earlier is real.
        if exc.start < len(head) - 4:
            raise ValidationError({"file": ERR_CSV_NOT_UTF8}) from exc
        text = head[: exc.start].decode("utf-8-sig")
    if not text.strip():
        raise ValidationError({"file": ERR_CSV_EMPTY})
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header = [c.strip() for c in next(csv.reader([first_line]), [])]
    if [h.lower() for h in header] != [h.lower() for h in CSV_HEADER]:
        raise ValidationError({"file": ERR_CSV_HEADER.format(found=first_line[:60])})
    if len([line for line in text.splitlines()[1:] if line.strip()]) == 0 and len(head) == uploaded_file.size:
        raise ValidationError({"file": ERR_CSV_NO_ROWS})


def custom_list_upload_start(
    *, uploaded_file, actor, custom_list: CustomList | None = None, name: str = "", description: str = ""
) -> CustomListUpload:
    """Check the CSV, store it and queue its processing; refuses to replace a list in use."""
    csv_check(uploaded_file=uploaded_file)
    if custom_list is not None:
        names = custom_list_used_by(custom_list=custom_list)
        if names:
            raise ValidationError({"file": ERR_LIST_IN_USE.format(names=", ".join(names))})
    with transaction.atomic():
        if custom_list is None:
            if CustomList.objects.filter(name=name).exists():
                raise ValidationError({"name": ERR_LIST_NAME_TAKEN})
            custom_list = CustomList.objects.create(name=name, description=description, created_by=actor)
        upload = CustomListUpload(
            custom_list=custom_list,
            original_name=(uploaded_file.name or "")[:255],
            uploaded_by=actor,
            total_bytes=uploaded_file.size,
        )
        # Server-side file name: never trust the client's.
        upload.file.save(f"list-{custom_list.pk}.csv", uploaded_file, save=False)
        upload.save()
        # Owed with the upload row: a broker down at the commit delays the processing, never loses it.
        outbox.job_enqueue(task=CUSTOM_LIST_TASK, args=[upload.pk])
    return upload


def _rows(fileobj):
    """(row number, Type, Identity or None, problem) for each data row; raises on bad encoding."""
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    next(reader, None)
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            yield reader.line_num, row, None, ROW_COLUMNS
            continue
        kind, identity = row[0].strip(), row[1].strip()
        unstorable = input_checks.text_problem(kind + identity)
        if unstorable:
            yield reader.line_num, row, None, ROW_UNSTORABLE.format(reason=unstorable)
        elif kind.lower() != "i":
            yield reader.line_num, row, None, ROW_BAD_TYPE
        elif not identity or len(identity) > 256:
            yield reader.line_num, row, None, ROW_BAD_IDENTITY
        else:
            yield reader.line_num, row, identity, ""


def custom_list_process(*, upload_id: int) -> CustomListUpload:
    """Read the stored CSV in chunks; replace the list's members in one transaction at the end.

    Never leaves the upload In progress: a failure nobody foresaw marks it Failed (and is logged),
    so the marketer sees it and can upload again instead of watching a list that never finishes.
    """
    upload = CustomListUpload.objects.select_related("custom_list").get(pk=upload_id)
    if upload.status != CustomListUpload.Status.IN_PROGRESS:
        return upload
    try:
        return _custom_list_process(upload)
    except Exception:
        log.exception("Custom list upload %s failed", upload.pk)
        CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
            status=CustomListUpload.Status.FAILED, error=ERR_CSV_FAILED, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload


def _custom_list_process(upload: CustomListUpload) -> CustomListUpload:
    seen: set[str] = set()
    matched_ids: list[int] = []
    counts = {"rows": 0, "matched": 0, "unknown": 0, "duplicate": 0, "invalid": 0}
    errors = io.StringIO()
    writer = csv.writer(errors, quoting=csv.QUOTE_ALL)
    writer.writerow(["Row", "Identity", "Reason"])
    pending: list[tuple[int, str]] = []

    def flush():
        found = dict(Profile.objects.filter(identity__in=[i for _, i in pending]).values_list("identity", "pk"))
        for line, identity in pending:
            if identity in found:
                matched_ids.append(found[identity])
                counts["matched"] += 1
            else:
                counts["unknown"] += 1
                writer.writerow([line, csv_safe(identity), ROW_UNKNOWN])
        pending.clear()

    try:
        with upload.file.open("rb") as fileobj:
            for line, row, identity, problem in _rows(fileobj):
                counts["rows"] += 1
                if problem:
                    counts["invalid"] += 1
                    shown = input_checks.text_display(",".join(row)[:300])
                    writer.writerow([line, csv_safe(shown), problem])
                    continue
                if identity in seen:
                    counts["duplicate"] += 1
                    continue
                seen.add(identity)
                pending.append((line, identity))
                if len(pending) >= CHUNK_ROWS:
                    flush()
                    CustomListUpload.objects.filter(pk=upload.pk).update(
                        processed_bytes=fileobj.tell(), rows=counts["rows"]
                    )
            if pending:
                flush()
    except (UnicodeDecodeError, csv.Error) as exc:
        message = ERR_CSV_NOT_UTF8 if isinstance(exc, UnicodeDecodeError) else f"The file is not valid CSV: {exc}."
        CustomListUpload.objects.filter(pk=upload.pk).update(
            status=CustomListUpload.Status.FAILED, error=message, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload
    if counts["rows"] == 0:
        CustomListUpload.objects.filter(pk=upload.pk).update(
            status=CustomListUpload.Status.FAILED, error=ERR_CSV_NO_ROWS, finished_at=timezone.now()
        )
        upload.refresh_from_db()
        return upload
    with transaction.atomic():
        # Lock the list row so two uploads into one list replace it one after the other.
        custom_list = CustomList.objects.select_for_update().get(pk=upload.custom_list_id)
        # Checked again at the swap: a campaign published while the file was read counts too.
        replacing = custom_list.uploads.filter(status=CustomListUpload.Status.COMPLETED).exists()
        names = custom_list_used_by(custom_list=custom_list) if replacing else []
        if names:
            CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
                status=CustomListUpload.Status.FAILED,
                error=ERR_LIST_IN_USE.format(names=", ".join(names)),
                finished_at=timezone.now(),
            )
            upload.refresh_from_db()
            return upload
        CustomListMember.objects.filter(custom_list=custom_list).delete()
        CustomListMember.objects.bulk_create(
            [CustomListMember(custom_list=custom_list, profile_id=pk) for pk in matched_ids], batch_size=5000
        )
        CustomList.objects.filter(pk=custom_list.pk).update(size=len(matched_ids))
        CustomListUpload.objects.filter(pk=upload.pk, status=CustomListUpload.Status.IN_PROGRESS).update(
            status=CustomListUpload.Status.COMPLETED,
            finished_at=timezone.now(),
            processed_bytes=upload.total_bytes,
            error_rows=errors.getvalue() if counts["unknown"] or counts["invalid"] else "",
            **counts,
        )
    upload.refresh_from_db()
    return upload
