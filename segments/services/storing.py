"""Storing a batch of records: profiles upserted, events inserted once, the event catalogue kept current."""

import datetime
import json

from django.db import connection, transaction
from django.utils import timezone

from core import db
from core.db import row_triggers_skippable, row_triggers_skipped
from segments import live
from segments.models import EventDefinition, EventPropertyDefinition, ProfilePropertyDefinition, sample_bucket_for
from segments.services.records import ParsedRecord, RecordError, UploadResult, property_type, record_parse


def upload_records(*, records: list, now: datetime.datetime | None = None) -> UploadResult:
    """Store a batch of upload records set-based: valid ones stored, bad ones reported by index."""
    now = now or timezone.now()
    result = UploadResult()
    parsed: list[tuple[int, ParsedRecord]] = []
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


def _store(*, records: list[ParsedRecord], now: datetime.datetime) -> list[int]:
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


def _events_insert(*, events: list[ParsedRecord], profile_ids: dict[str, int], now: datetime.datetime) -> list[int]:
    """Store a batch's events in one statement; returns their ids.

    The columns travel as array literals (core/db.py) instead of 1,000
    model instances, and the per-row FK check on the profile is skipped where the role may
    (core/db.py): every profile the events name was inserted or updated by the
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
        "profiles": db.int_array(profile_ids[rec.identity] for rec in fresh),
        "names": db.text_array(rec.name for rec in fresh),
        "props": db.text_array(json.dumps(rec.data) for rec in fresh),
        "at": db.text_array(rec.at.isoformat() for rec in fresh),
        "keys": db.text_array(None if rec.dedup_key is None else str(rec.dedup_key) for rec in fresh),
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
    params = [  # array literals: core/db.py
        db.text_array(identities),
        db.text_array(json.dumps(merged[i]["props"]) for i in identities),
        db.text_array(merged[i]["first"].isoformat() for i in identities),
        db.text_array(merged[i]["last"].isoformat() for i in identities),
        db.int_array(sample_bucket_for(i) for i in identities),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {identity: pk for pk, identity in cursor.fetchall()}


def catalogue_update(*, records: list[ParsedRecord], now: datetime.datetime) -> None:
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
