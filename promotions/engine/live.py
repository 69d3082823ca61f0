"""Live matching (SPEC 6.1, 6.4): stored batches of events against the live campaigns.

- `triggers_sync`: the (event name → campaign) lookup rows of a campaign's Who section.
- `events_process`: one stored batch (upload API or system events). One indexed query on
  `LiveTrigger` finds the live campaigns whose trigger events are in the batch; per campaign,
  the trigger property filters and the past-behaviour filter run as one query over the batch's
  events; matching user actions are granted (`grants.grant_items_locked`), matching inaction
  A events create pending `InactionCheck` rows (`promotions.engine.inaction` settles them).
- `inbox_drain`: the batches waiting in the outbox topic `promotions.live_events`, matched
  together (the task `promotions.live_events` and the live sweep call it).

Locking (documented choice). A grant transaction takes the campaign row FOR NO KEY UPDATE
first (`grants.lock_campaign`). That is what makes Pause / Stop take effect at once (their
conditional UPDATE waits for the lock, and the grant re-reads the status under it: a paused or
stopped campaign gives "Campaign paused or stopped"); it also serialises the grant batches of
one campaign, so the per-user counters need no row locks of their own. Batches are a bounded
number of statements (one credit statement for all points, one grant insert, one counter UPDATE
per table), so the serialisation costs little. The counters still move only by conditional
UPDATEs (`promotions.engine.limits`), so even a code path that forgot the lock could not
overshoot. Lock order: campaign row, then counter rows, then catalogue rows (lots, codes): the
same everywhere.

Occurrence = "event:<id>" (live action) or "check:<id>" (inaction): a re-delivered task or a
re-sent batch finds the grant rows and gives nothing twice.

System events and loops. Each grant records `Points Credited` / `Coupon Rewarded` /
`Voucher Rewarded` for the profile (`promotions.engine.grants`) through
`segments.services.system_events_record`, which feeds this matcher again. Rule: a campaign
never triggers on a system event it produced itself (its own Campaign ID), and a system event
whose Trigger Depth reached MAX_TRIGGER_DEPTH triggers nothing (`loops`), so two campaigns that
reward each other's system events stop after a bounded chain.
"""

import datetime
import json
import logging

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts import outbox
from core import db
from promotions.engine import grants, limits
from promotions.models import Campaign, InactionCheck, LiveTrigger
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments import services as segment_services
from segments.models import Event, Profile

log = logging.getLogger(__name__)

C = Campaign
SYSTEM_EVENTS = grants.NAMES
PROP_CAMPAIGN, PROP_DEPTH = grants.PROP_CAMPAIGN, grants.PROP_DEPTH
MAX_TRIGGER_DEPTH = 3

WINDOW = {C.WindowUnit.MINUTES: datetime.timedelta(minutes=1), C.WindowUnit.HOURS: datetime.timedelta(hours=1)}


# --- The trigger lookup ------------------------------------------------------------------------


def triggers_sync(*, campaign: Campaign) -> None:
    """Rebuild the campaign's (event name → campaign) rows from its Who section."""
    LiveTrigger.objects.filter(campaign=campaign).delete()
    rows = []
    if campaign.qualification == C.Qualification.LIVE_ACTION:
        names = {t.get("event") for t in campaign.triggers or [] if isinstance(t, dict) and t.get("event")}
        rows = [LiveTrigger(campaign=campaign, event_name=n, role=LiveTrigger.Role.ACTION) for n in sorted(names)]
    elif campaign.qualification == C.Qualification.LIVE_INACTION and campaign.inaction_event_a:
        rows = [LiveTrigger(campaign=campaign, event_name=campaign.inaction_event_a, role=LiveTrigger.Role.INACTION_A)]
    LiveTrigger.objects.bulk_create(rows)


def _live_now_q(now: datetime.datetime, prefix: str = "") -> Q:
    """Running, or Scheduled whose start has come (the sweep flips it within 30 s)."""
    return Q(**{f"{prefix}status": C.Status.RUNNING}) | Q(
        **{f"{prefix}status": C.Status.SCHEDULED, f"{prefix}starts_at__lte": now}
    )


# --- Matching a batch of stored events ----------------------------------------------------------


def _in_window(campaign: Campaign, event: dict) -> bool:
    """Start and end honoured to the minute: the event happened, and was stored, inside them."""
    for moment in (event["occurred_at"], event["received_at"]):
        if campaign.starts_at is None or moment < campaign.starts_at:
            return False
        if campaign.ends_at is not None and moment >= campaign.ends_at:
            return False
    return True


def trigger_depth(event: dict) -> int:
    """The chain depth a grant triggered by `event` has (1 for a user's own event)."""
    if event["name"] not in SYSTEM_EVENTS:
        return 1
    depth = event["properties"].get(PROP_DEPTH)
    return (depth if isinstance(depth, int) and not isinstance(depth, bool) else 0) + 1


def loops(campaign: Campaign, event: dict) -> bool:
    """The loop rule: no campaign triggers on its own system events, nor on a chain at its depth limit."""
    if event["name"] not in SYSTEM_EVENTS:
        return False
    return event["properties"].get(PROP_CAMPAIGN) == campaign.pk or trigger_depth(event) > MAX_TRIGGER_DEPTH


def past_filter_q(campaign: Campaign, now: datetime.datetime) -> Q | None:
    """The optional past-behaviour / user-property filter, as a condition on the event's profile."""
    tree = campaign.past_filter
    if not isinstance(tree, dict) or not tree.get("rules"):
        return None
    profiles = Profile.objects.filter(pk=OuterRef("profile_id")).filter(segment_selectors.rules_q(rules=tree, now=now))
    return Q(Exists(profiles))


def _action_matches(campaign: Campaign, events: list[dict], now: datetime.datetime) -> list[dict]:
    """The batch's events that trigger this live-action campaign (one query when filters apply)."""
    wanted = {t.get("event") for t in campaign.triggers or [] if isinstance(t, dict)}
    candidates = [e for e in events if e["name"] in wanted and _in_window(campaign, e) and not loops(campaign, e)]
    if not candidates:
        return []
    condition, any_filter = Q(), False
    for trigger in campaign.triggers or []:
        try:
            filters = segment_rules.validate_filters(trigger.get("filters") or [])
        except ValidationError:
            log.warning("campaign %s: trigger %r has invalid filters; it matches nothing", campaign.pk, trigger)
            any_filter = True
            continue
        part = Q(name=trigger.get("event"))
        for f in filters:
            part &= segment_rules.filter_q(f)
            any_filter = True
        condition |= part
    try:
        past = past_filter_q(campaign, now)
    except ValidationError:
        log.warning("campaign %s: its past-behaviour filter is invalid; it matches nothing", campaign.pk)
        return []
    if not any_filter and past is None:
        return candidates
    if not condition:
        return []
    query = Event.objects.filter(pk__in=[e["id"] for e in candidates]).filter(condition)
    if past is not None:
        query = query.filter(past)
    matched = set(query.order_by().values_list("pk", flat=True))
    return [e for e in candidates if e["id"] in matched]


def _checks_create(campaign: Campaign, events: list[dict]) -> int:
    """Event A of an inaction campaign: one pending check per (campaign, A), due at A's time + window."""
    if not campaign.inaction_window_value or campaign.inaction_window_unit not in WINDOW:
        return 0
    window = WINDOW[campaign.inaction_window_unit] * campaign.inaction_window_value
    prop = campaign.constant_property
    rows = [
        InactionCheck(
            campaign=campaign,
            profile_id=e["profile_id"],
            event_a_id=e["id"],
            a_occurred_at=e["occurred_at"],
            due_at=e["occurred_at"] + window,
            constant_value=e["properties"].get(prop) if prop else None,
        )
        for e in events
        if e["name"] == campaign.inaction_event_a
        and _in_window(campaign, e)
        and not loops(campaign, e)
        # "Same Product ID in A and B" needs a value on A to compare with.
        and (not prop or e["properties"].get(prop) is not None)
    ]
    InactionCheck.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def events_process(*, event_ids: list[int]) -> dict:
    """Match one stored batch of events against live campaigns; returns counts (for logs and tests)."""
    now = timezone.now()
    summary = {"events": len(event_ids), "campaigns": 0, "granted": 0, "not_granted": 0, "checks": 0}
    # The batch's event names, the live triggers on them, and only then the events that carry
    # one (with their properties): in an upload batch most events trigger nothing, and reading
    # and decoding all 1,000 was most of a batch's time in bench/upload_bench.py.
    ids = db.int_array(event_ids)
    batch_names = _batch_names(ids)
    triggers = list(
        LiveTrigger.objects.filter(event_name__in=batch_names)
        .filter(_live_now_q(now, "campaign__"))
        .values_list("campaign_id", "role", "event_name")
    )
    if not triggers:
        return summary
    events = _batch_events(ids, {name for _, _, name in triggers})
    present = {e["name"] for e in events}
    roles: dict[int, set[str]] = {}
    for campaign_id, role, name in triggers:
        if name in present:
            roles.setdefault(campaign_id, set()).add(role)
    if not roles:
        return summary
    campaigns = Campaign.objects.in_bulk(sorted(roles))
    to_grant: dict[int, list[limits.Item]] = {}
    for campaign_id in sorted(campaigns):
        campaign = campaigns[campaign_id]
        summary["campaigns"] += 1
        if LiveTrigger.Role.INACTION_A in roles[campaign_id]:
            summary["checks"] += _checks_create(campaign, events)
        if LiveTrigger.Role.ACTION in roles[campaign_id]:
            prop = campaign.points_property
            items = [
                limits.Item(
                    profile_id=e["profile_id"],
                    occurrence=f"event:{e['id']}",
                    at=e["occurred_at"],
                    value=e["properties"].get(prop) if prop else None,
                    depth=trigger_depth(e),
                )
                for e in _action_matches(campaign, events, now)
            ]
            if items:
                to_grant[campaign_id] = items
    if not to_grant:
        return summary
    # One transaction for the batch: one commit instead of one per campaign, and the system
    # events of every campaign in one insert (one follow-up task). Campaign rows are locked in
    # id order, so two batches never wait on each other in a cycle.
    with transaction.atomic():
        recorded: list[tuple[int, str, dict]] = []
        for campaign_id in sorted(to_grant):
            campaign = grants.lock_campaign(campaign_id)
            if campaign is None:
                continue
            rows = grants.grant_items_locked(campaign=campaign, items=to_grant[campaign_id], events_sink=recorded)
            summary["granted"] += sum(1 for g in rows if g.granted)
            summary["not_granted"] += sum(1 for g in rows if not g.granted)
        segment_services.system_events_record(events=recorded)
    return summary


_EVENT_FIELDS = ("id", "profile_id", "name", "properties", "occurred_at", "received_at")


def _batch_names(ids_literal: str) -> set[str]:
    """The distinct event names of a batch (an id array literal: no 1,000-parameter IN)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT name FROM segments_event WHERE id = ANY(%s::bigint[])", [ids_literal])
        return {row[0] for row in cursor.fetchall()}


def _batch_events(ids_literal: str, names: set[str]) -> list[dict]:
    """The batch's events named in `names`, in id order, as dicts of `_EVENT_FIELDS`."""
    with connection.cursor() as cursor:
        # MATERIALIZED: the batch by primary key first; left to itself the planner may walk the
        # (name, time) index over every event ever sent with a trigger's name.
        cursor.execute(
            f"WITH batch AS MATERIALIZED (SELECT {', '.join(_EVENT_FIELDS)} FROM segments_event"  # noqa: S608
            " WHERE id = ANY(%s::bigint[])) SELECT * FROM batch WHERE name = ANY(%s::text[]) ORDER BY id",
            [ids_literal, db.text_array(sorted(names))],
        )
        events = [dict(zip(_EVENT_FIELDS, row, strict=True)) for row in cursor.fetchall()]
    for event in events:  # Django's connection leaves jsonb as text for JSONField to decode
        if isinstance(event["properties"], str):
            event["properties"] = json.loads(event["properties"])
    return events


# --- The inbox: batches waiting for matching -------------------------------------------------

# A lost counter race (rolled back, nothing given) or a deadlock / lost connection: the same
# batches are simply matched again (grants are unique per event). The task retries on these.
RETRYABLE = (limits.LimitRace, OperationalError)


def _inbox_match(batches: list[tuple[int, list]]) -> dict:
    """Match the batches' events together; a batch that fails for a reason other than a lost
    race is matched alone, and one that fails alone is logged and dropped (as a task that
    failed was before the inbox), so it cannot hold up the batches behind it."""
    try:
        with transaction.atomic():
            return events_process(event_ids=sorted({int(i) for _, ids in batches for i in ids}))
    except RETRYABLE:
        raise
    except Exception:
        if len(batches) == 1:
            log.exception("Live matching failed for inbox batch %s; its events are not matched", batches[0][0])
            return {}
    counts: dict = {}
    for batch in batches:
        for key, value in _inbox_match([batch]).items():
            counts[key] = counts.get(key, 0) + value
    return counts


# Batches matched together in one transaction (at most ~INBOX_TAKE × 1,000 events).
INBOX_TAKE = 20


def inbox_drain() -> dict:
    """Match every batch waiting in the outbox (topic `promotions.live_events`, written by
    `segments.live.events_stored` in the transaction that stored the events), up to INBOX_TAKE
    batches per transaction; returns counts.

    Each transaction claims the oldest waiting batches (SKIP LOCKED: two tasks take different
    ones), matches all their events in one `events_process`, and deletes the batches it
    matched. A failure rolls the batches back into the inbox with nothing given; grants are
    unique per event, so matching a batch twice gives nothing twice.
    """
    summary = {"batches": 0, "events": 0, "campaigns": 0, "granted": 0, "not_granted": 0, "checks": 0}
    while True:
        with transaction.atomic():
            rows = outbox.outbox_claim(topic=outbox.TOPIC_LIVE_EVENTS, limit=INBOX_TAKE)
            if not rows:
                return summary
            batches = [(pk, payload.get("event_ids") or []) for pk, payload in rows]
            counts = _inbox_match(batches)
            outbox.outbox_done(ids=[pk for pk, _ in batches])
        summary["batches"] += len(batches)
        for key, value in counts.items():
            summary[key] += value
        if len(batches) < INBOX_TAKE:
            return summary
