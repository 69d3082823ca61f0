"""The upload API's records (SPEC 2.2): limits and messages, one record checked and typed."""

import datetime
import hashlib
import json
import uuid
from dataclasses import dataclass, field

from core import input_checks
from segments.models import PropertyType

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
class ParsedRecord:
    """One record of a batch, checked and typed (`record_parse`), ready to store."""

    kind: str
    identity: str
    at: datetime.datetime
    name: str = ""
    data: dict = field(default_factory=dict)
    dedup_key: uuid.UUID | None = None


def _storable(value, *, path: str) -> None:
    """Code 512 for any part of `value` PostgreSQL cannot store (core/input_checks.py)."""
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


def record_parse(record, *, now: datetime.datetime) -> ParsedRecord:
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
        return ParsedRecord("event", identity, at, name=name, data=data, dedup_key=key)
    data = _check_properties(record.get("profileData"), structure_error=ERR_PROFILE_DATA, path="profileData")
    return ParsedRecord("profile", identity, at, data=data)


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
