"""Live action and live inaction distribution (SPEC 6.1, 6.2, 6.4).

- `events_process`: one task per stored batch of events (upload API or system events). One
  indexed query on `LiveTrigger` finds the live campaigns whose trigger events are in the
  batch; per campaign, the trigger property filters and the past-behaviour filter run as one
  query over the batch's events; matching user actions are granted (`grant_items`), matching
  inaction A events create pending `InactionCheck` rows.
- `live_sweep`: the beat job (every 30 s): starts scheduled live campaigns whose start has
  come, processes due inaction checks (set-based, SKIP LOCKED), completes live campaigns past
  their end.
- `grant_items`: rewards a list of occurrences of one campaign in ONE transaction.

Locking (documented choice). A grant transaction takes the campaign row FOR NO KEY UPDATE
first. That is what makes Pause / Stop take effect at once (their conditional UPDATE waits
for the lock, and the grant re-reads the status under it: a paused or stopped campaign gives
"Campaign paused or stopped"); it also serialises the grant batches of one campaign, so the
per-user counters need no row locks of their own. Batches are a bounded number of statements
(one credit statement for all points, one grant insert, one counter UPDATE per table), so the
serialisation costs little. The counters still move only by conditional UPDATEs
(`… WHERE used + n <= limit`) whose row count must match: a mismatch raises and rolls the
whole batch back, so even a code path that forgot the lock could not overshoot. Lock order:
campaign row, then counter rows, then catalogue rows (lots, codes): the same everywhere.

Occurrence = "event:<id>" (live action) or "check:<id>" (inaction): a re-delivered task or a
re-sent batch finds the grant rows and gives nothing twice.

System events and loops. Each grant records `Points Credited` / `Coupon Rewarded` /
`Voucher Rewarded` for the profile (properties: Campaign ID, Points / Code, …, Trigger Depth)
through `segments.services.system_events_record`, which feeds this matcher again. Rule: a
campaign never triggers on a system event it produced itself (its own Campaign ID), and a
system event whose Trigger Depth reached MAX_TRIGGER_DEPTH triggers nothing, so two campaigns
that reward each other's system events stop after a bounded chain.

One decision (issue #21). `decide` is the pure decision: given the campaign's configuration,
`Counters` (points used, rewards given, per-user period rows) and an ordered list of items, it
returns each item's outcome and moves the counters in place; `used_up_reason` says whether the
campaign ends after it. The engine (`_decide_and_give`) calls it with counters read from the
database and a code claim, then applies the deltas with its conditional UPDATEs; the forecast
(`promotions.forecast`) calls it with in-memory counters and a count of the codes left.

Per-user periods (day / week / month recurrence) are the calendar periods in the account
timezone of the triggering event's time (inaction: the check's due time). Coupon and voucher
rewards are assigned one occurrence at a time (each is a code claim with SKIP LOCKED inside
the batch transaction); points are credited for the whole batch in one statement.
"""

import datetime
import json
import logging
import random
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from config import outbox, pg_arrays
from config.account import account_tzinfo
from coupons import services as coupon_services
from coupons.models import Coupon
from promotions import distribution, holdout, system_events
from promotions.models import (
    Campaign,
    CampaignCounter,
    Grant,
    InactionCheck,
    LiveTrigger,
    ProfileCounter,
)
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments import services as segment_services
from segments.models import Event, Profile
from vouchers import selectors as voucher_selectors
from vouchers import services as voucher_services

log = logging.getLogger(__name__)

C = Campaign
R = Grant.Reason
SYSTEM_EVENTS = system_events.NAMES
PROP_CAMPAIGN, PROP_DEPTH = system_events.PROP_CAMPAIGN, system_events.PROP_DEPTH
MAX_TRIGGER_DEPTH = 3
SWEEP_BATCH = 1_000

END_BUDGET = "Campaign points budget used up"
END_COUPONS = "Campaign coupon limit reached"
END_VOUCHERS = "Campaign voucher limit reached"
END_TIME = "Reached its end time"
END_CODES_OUT = "Codes ran out: the {source} has no code left to give"
_CODES_OUT = (R.BULK_CODES_EXHAUSTED, R.VOUCHER_CODES_EXHAUSTED)

_WINDOW = {C.WindowUnit.MINUTES: datetime.timedelta(minutes=1), C.WindowUnit.HOURS: datetime.timedelta(hours=1)}


class LimitRace(Exception):
    """A conditional counter UPDATE matched fewer rows than decided: roll the batch back (never overshoot)."""


@dataclass(frozen=True)
class Item:
    """One occurrence to reward: who, the occurrence key, the property value (Percentage /
    Proportional), the time whose calendar periods count for recurrence, and the chain depth."""

    profile_id: int
    occurrence: str
    at: datetime.datetime
    value: object = None
    depth: int = 1


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


def _is_live_now(campaign: Campaign, now: datetime.datetime) -> bool:
    return campaign.status == C.Status.RUNNING or (
        campaign.status == C.Status.SCHEDULED and campaign.starts_at is not None and campaign.starts_at <= now
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


def _depth(event: dict) -> int:
    """The chain depth a grant triggered by `event` has (1 for a user's own event)."""
    if event["name"] not in SYSTEM_EVENTS:
        return 1
    depth = event["properties"].get(PROP_DEPTH)
    return (depth if isinstance(depth, int) and not isinstance(depth, bool) else 0) + 1


def _loops(campaign: Campaign, event: dict) -> bool:
    """The loop rule: no campaign triggers on its own system events, nor on a chain at its depth limit."""
    if event["name"] not in SYSTEM_EVENTS:
        return False
    return event["properties"].get(PROP_CAMPAIGN) == campaign.pk or _depth(event) > MAX_TRIGGER_DEPTH


def _past_filter_q(campaign: Campaign, now: datetime.datetime) -> Q | None:
    """The optional past-behaviour / user-property filter, as a condition on the event's profile."""
    tree = campaign.past_filter
    if not isinstance(tree, dict) or not tree.get("rules"):
        return None
    profiles = Profile.objects.filter(pk=OuterRef("profile_id")).filter(segment_selectors.rules_q(rules=tree, now=now))
    return Q(Exists(profiles))


def _action_matches(campaign: Campaign, events: list[dict], now: datetime.datetime) -> list[dict]:
    """The batch's events that trigger this live-action campaign (one query when filters apply)."""
    wanted = {t.get("event") for t in campaign.triggers or [] if isinstance(t, dict)}
    candidates = [e for e in events if e["name"] in wanted and _in_window(campaign, e) and not _loops(campaign, e)]
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
        past = _past_filter_q(campaign, now)
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
    if not campaign.inaction_window_value or campaign.inaction_window_unit not in _WINDOW:
        return 0
    window = _WINDOW[campaign.inaction_window_unit] * campaign.inaction_window_value
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
        and not _loops(campaign, e)
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
    ids = pg_arrays.int_array(event_ids)
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
    to_grant: dict[int, list[Item]] = {}
    for campaign_id in sorted(campaigns):
        campaign = campaigns[campaign_id]
        summary["campaigns"] += 1
        if LiveTrigger.Role.INACTION_A in roles[campaign_id]:
            summary["checks"] += _checks_create(campaign, events)
        if LiveTrigger.Role.ACTION in roles[campaign_id]:
            prop = campaign.points_property
            items = [
                Item(
                    profile_id=e["profile_id"],
                    occurrence=f"event:{e['id']}",
                    at=e["occurred_at"],
                    value=e["properties"].get(prop) if prop else None,
                    depth=_depth(e),
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
            campaign = _lock_campaign(campaign_id)
            if campaign is None:
                continue
            grants = grant_items_locked(campaign=campaign, items=to_grant[campaign_id], events_sink=recorded)
            summary["granted"] += sum(1 for g in grants if g.granted)
            summary["not_granted"] += sum(1 for g in grants if not g.granted)
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
            [ids_literal, pg_arrays.text_array(sorted(names))],
        )
        events = [dict(zip(_EVENT_FIELDS, row, strict=True)) for row in cursor.fetchall()]
    for event in events:  # Django's connection leaves jsonb as text for JSONField to decode
        if isinstance(event["properties"], str):
            event["properties"] = json.loads(event["properties"])
    return events


# --- Granting: budgets, caps and recurrence in the grant's transaction ---------------------------


def _periods(campaign: Campaign, at: datetime.datetime, tz) -> dict[str, int]:
    """period key → the per-user limit on rewards in it (None: counted for the points budget only)."""
    local = at.astimezone(tz)
    periods = {}
    if campaign.max_per_user_total or campaign.budget_per_user or campaign.max_codes_per_user:
        limits = [v for v in (campaign.max_per_user_total, campaign.max_codes_per_user) if v]
        periods["total"] = min(limits) if limits else None
    if campaign.max_per_user_day:
        periods[f"d:{local:%Y-%m-%d}"] = campaign.max_per_user_day
    if campaign.max_per_user_week:
        iso = local.isocalendar()
        periods[f"w:{iso.year}-W{iso.week:02d}"] = campaign.max_per_user_week
    if campaign.max_per_user_month:
        periods[f"m:{local:%Y-%m}"] = campaign.max_per_user_month
    return periods


def _code_limits(campaign: Campaign) -> tuple[str, str, str]:
    if campaign.reward_type == C.RewardType.COUPON:
        return R.CAMPAIGN_COUPON_LIMIT, R.USER_COUPON_LIMIT, END_COUPONS
    return R.CAMPAIGN_VOUCHER_LIMIT, R.USER_VOUCHER_LIMIT, END_VOUCHERS


def _smallest_reward(campaign: Campaign) -> Decimal:
    if campaign.points_type == C.PointsType.FLAT and campaign.flat_points:
        return Decimal(campaign.flat_points)
    if campaign.points_type == C.PointsType.RANDOM and campaign.random_min:
        return Decimal(campaign.random_min)
    places = campaign.wallet.rounding_places if campaign.wallet_id else 3
    return Decimal(1).scaleb(-places)


def _counter_rows(campaign, items, tz):
    """Per-user counter rows the items touch: {(profile, period): [rewards, points]} (two statements)."""
    keys = {(item.profile_id, period) for item in items for period in _periods(campaign, item.at, tz)}
    if not keys:
        return {}
    profile_ids = sorted({k[0] for k in keys})
    periods = sorted({k[1] for k in keys})
    existing = {
        (pid, period): [rewards, points]
        for pid, period, rewards, points in ProfileCounter.objects.filter(
            campaign=campaign, profile_id__in=profile_ids, period__in=periods
        ).values_list("profile_id", "period", "rewards", "points")
    }
    missing = [ProfileCounter(campaign=campaign, profile_id=pid, period=p) for pid, p in sorted(keys - set(existing))]
    if missing:
        ProfileCounter.objects.bulk_create(missing, ignore_conflicts=True)
    return {key: existing.get(key, [0, Decimal(0)]) for key in keys}


_PROFILE_COUNTERS_SQL = """
UPDATE promotions_profilecounter AS pc
SET rewards = pc.rewards + v.n, points = pc.points + v.p
FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::numeric[], %s::int[], %s::numeric[])
     AS v(profile_id, period, n, p, max_n, max_p)
WHERE pc.campaign_id = %s AND pc.profile_id = v.profile_id AND pc.period = v.period
  AND (v.max_n IS NULL OR pc.rewards + v.n <= v.max_n)
  AND (v.max_p IS NULL OR pc.points + v.p <= v.max_p)
"""


def _profile_counters_move(campaign, deltas: dict, limits: dict) -> None:
    """Conditional UPDATE of the per-user counters: every row must still fit its limit, or the batch rolls back."""
    if not deltas:
        return
    keys = sorted(deltas)
    budget = campaign.budget_per_user
    with connection.cursor() as cursor:
        cursor.execute(
            _PROFILE_COUNTERS_SQL,
            [
                [k[0] for k in keys],
                [k[1] for k in keys],
                [deltas[k][0] for k in keys],
                [deltas[k][1] for k in keys],
                [limits.get(k) for k in keys],
                [budget if k[1] == "total" else None for k in keys],
                campaign.pk,
            ],
        )
        moved = cursor.rowcount
    if moved != len(keys):
        raise LimitRace(f"campaign {campaign.pk}: per-user counters moved {moved} of {len(keys)}")


@dataclass
class Counters:
    """The counters one decision reads and moves: the campaign's points used and rewards given,
    and the per-user rows {(profile, period): [rewards, points]} the items touch. The live engine
    reads them from the database; the forecast keeps them in memory across its whole replay."""

    used: Decimal
    given: int
    per_user: dict


def config_reason(campaign: Campaign) -> str | None:
    """Why nothing at all can be given (no or inactive wallet, coupon or voucher list), or None."""
    kind = campaign.reward_type
    if kind == C.RewardType.POINTS:
        wallet = campaign.wallet
        if wallet is None or not campaign.points_type:
            return R.INVALID_WALLET
        if not wallet.is_active:
            return R.INACTIVE_WALLET
        return None
    if kind == C.RewardType.COUPON:
        if campaign.coupon is None or campaign.coupon.status != Coupon.Status.ACTIVE:
            return R.INACTIVE_COUPON
        return None
    if kind == C.RewardType.VOUCHER:
        if campaign.voucher_list is None or not voucher_selectors.voucher_list_is_usable(
            voucher_list=campaign.voucher_list
        ):
            return R.INACTIVE_VOUCHER_LIST
        return None
    return R.INVALID_WALLET


def decide(
    campaign: Campaign,
    items: list[Item],
    *,
    counters: Counters,
    tz,
    rng,
    take_code,
    refused: str | None = None,
) -> tuple[dict, dict, dict]:
    """THE decision of what a list of items (in order) gets: the one function the live engine and
    the forecast both call, so a forecast cannot drift from what the engine does.

    Reads and moves `counters` in place (points math, recurrence periods in the account
    timezone `tz`, per-user budget, campaign budget, max per reward, code caps); `take_code(item)`
    → (reason, code) gives one code (the engine claims a real one, the forecast counts stock down);
    `refused` is a reason every item gets (the configuration's). Returns (occurrence → (reason,
    points, code), per-user counter deltas {(profile, period): [n, points]}, their limits).
    """
    per_user = counters.per_user
    limits: dict = {}
    deltas: dict = {}
    outcome: dict = {}
    kind = campaign.reward_type
    wallet = campaign.wallet
    codes = kind in (C.RewardType.COUPON, C.RewardType.VOUCHER)
    campaign_limit, user_limit, _ = _code_limits(campaign) if codes else (None, None, None)
    for item in items:
        points, code = None, ""
        reason = refused
        if not reason and kind == C.RewardType.POINTS:
            points = distribution.points_for(campaign, wallet=wallet, value=item.value, rng=rng)
            if points is None:
                reason = R.INVALID_POINTS
        periods = _periods(campaign, item.at, tz)
        for period in periods:
            per_user.setdefault((item.profile_id, period), [0, Decimal(0)])
        if not reason:
            # Recurrence: max per user in total / per day / week / month (the total row's other
            # limit, max codes per user, gets its own reason below).
            recurrence = {p: (campaign.max_per_user_total if p == "total" else cap) for p, cap in periods.items()}
            if any(cap and per_user[(item.profile_id, p)][0] + 1 > cap for p, cap in recurrence.items()):
                reason = R.RECURRENCE_LIMIT
        if not reason and points is not None:
            if campaign.budget_campaign is not None and counters.used + points > campaign.budget_campaign:
                reason = R.CAMPAIGN_BUDGET
            elif (
                campaign.budget_per_user is not None
                and per_user[(item.profile_id, "total")][1] + points > campaign.budget_per_user
            ):
                reason = R.USER_BUDGET
        if not reason and codes:
            if campaign.max_codes_per_campaign and counters.given + 1 > campaign.max_codes_per_campaign:
                reason = campaign_limit
            elif (
                campaign.max_codes_per_user
                and per_user[(item.profile_id, "total")][0] + 1 > campaign.max_codes_per_user
            ):
                reason = user_limit
        if not reason and codes:
            reason, code = take_code(item)
        outcome[item.occurrence] = (reason or "", points, code)
        if reason:
            continue
        amount = points or Decimal(0)
        counters.used += amount
        counters.given += 1
        for period, cap in periods.items():
            entry = per_user[(item.profile_id, period)]
            entry[0] += 1
            entry[1] += amount
            delta = deltas.setdefault((item.profile_id, period), [0, Decimal(0)])
            delta[0] += 1
            delta[1] += amount
            limits[(item.profile_id, period)] = cap
    return outcome, deltas, limits


def _decide_and_give(campaign: Campaign, items: list[Item], now: datetime.datetime, rng) -> dict:
    """occurrence → (reason, points, code); consumes the counters (conditional UPDATEs) for what is given."""
    tz = account_tzinfo()
    counter, _ = CampaignCounter.objects.get_or_create(campaign=campaign)
    counters = Counters(used=counter.points_used, given=counter.rewards, per_user=_counter_rows(campaign, items, tz))
    kind = campaign.reward_type
    wallet = campaign.wallet
    codes = kind in (C.RewardType.COUPON, C.RewardType.VOUCHER)
    refused = config_reason(campaign)
    if codes and not refused:
        outcome, deltas, limits, counters = _decide_with_codes(campaign, items, counters, tz, rng, now)
    else:
        outcome, deltas, limits = decide(
            campaign, items, counters=counters, tz=tz, rng=rng, take_code=None, refused=refused
        )
    used, given = counters.used, counters.given
    granted = [i for i in items if not outcome[i.occurrence][0]]
    if kind == C.RewardType.POINTS and granted:
        activates_at, expires_at = distribution.points_lifecycle(campaign, now=now)
        from wallets import services as wallet_services

        wallet_services.wallet_credit_each(
            wallet=wallet,
            credits=[(i.profile_id, i.occurrence, outcome[i.occurrence][1]) for i in granted],
            campaign=campaign,
            description=campaign.name[:500],
            activates_at=activates_at,
            expires_at=expires_at,
        )
    if granted:
        query = CampaignCounter.objects.filter(pk=campaign.pk)
        delta_points = used - counter.points_used
        delta_given = given - counter.rewards
        if campaign.budget_campaign is not None and kind == C.RewardType.POINTS:
            query = query.filter(points_used__lte=campaign.budget_campaign - delta_points)
        if codes and campaign.max_codes_per_campaign:
            query = query.filter(rewards__lte=campaign.max_codes_per_campaign - delta_given)
        if query.update(points_used=F("points_used") + delta_points, rewards=F("rewards") + delta_given) != 1:
            raise LimitRace(f"campaign {campaign.pk}: campaign counter would overshoot")
        _profile_counters_move(campaign, deltas, limits)
    codes_out = any(o[0] in _CODES_OUT for o in outcome.values())
    _complete_if_used_up(campaign, used=used, given=given, now=now, codes_out=codes_out)
    return outcome


def _decide_with_codes(campaign: Campaign, items: list[Item], counters: Counters, tz, rng, now):
    """`decide` for a code campaign, its codes claimed set-based: one claim statement for the
    batch (config/code_pool.py), not one per item. The items the caps let through are decided
    first as if codes were plentiful; then every one of them is given a code at once, in item
    order. If codes ran out on the way (the items served are the first ones), the decision is
    made again from the same counters with the codes actually held, so every item after the
    first one left without a code gets "codes ran out", exactly as item by item.
    Returns (outcome, deltas, limits, counters)."""
    before = Counters(
        used=counters.used, given=counters.given, per_user={k: list(v) for k, v in counters.per_user.items()}
    )
    outcome, deltas, limits = decide(campaign, items, counters=counters, tz=tz, rng=rng, take_code=lambda _: ("", ""))
    wanting = [i for i in items if not outcome[i.occurrence][0]]
    held = _give_codes(campaign, wanting, now) if wanting else {}
    if len(held) == len(wanting):
        outcome = {occ: (reason, points, held.get(occ, code)) for occ, (reason, points, code) in outcome.items()}
        return outcome, deltas, limits, counters
    out_reason = _codes_out_reason(campaign)

    def take_code(item: Item) -> tuple[str, str]:
        code = held.get(item.occurrence)
        return ("", code) if code else (out_reason, "")

    outcome, deltas, limits = decide(campaign, items, counters=before, tz=tz, rng=rng, take_code=take_code)
    return outcome, deltas, limits, before


def _give_codes(campaign: Campaign, items: list[Item], now: datetime.datetime) -> dict[str, str]:
    """occurrence → code for the items that hold one now: one claim for the whole batch."""
    pairs = [(i.profile_id, i.occurrence) for i in items]
    if campaign.reward_type == C.RewardType.COUPON:
        held = coupon_services.code_assign_each(
            coupon=campaign.coupon,
            items=pairs,
            campaign=campaign,
            redeemable_from=distribution._redeemable_from(campaign, now),
        )
    else:
        held = voucher_services.voucher_assign_each(voucher_list=campaign.voucher_list, items=pairs, campaign=campaign)
    return {occ: held[(pid, occ)] for pid, occ in pairs if (pid, occ) in held}


def _codes_out_reason(campaign: Campaign) -> str:
    if campaign.reward_type == C.RewardType.VOUCHER:
        return R.VOUCHER_CODES_EXHAUSTED
    return R.BULK_CODES_EXHAUSTED if campaign.coupon.kind == Coupon.Kind.BULK else R.COUPON_LIMIT_REACHED


def used_up_reason(campaign: Campaign, *, used: Decimal, given: int, codes_out: bool = False) -> str | None:
    """Why a live campaign ends after a decision (budget, code limit or codes used up), or None:
    the engine completes the campaign with it, the forecast stops its replay there."""
    if codes_out:
        # Nothing left to give: ending says so (the page shows why) instead of Running on silently.
        source = "voucher list" if campaign.reward_type == C.RewardType.VOUCHER else "coupon series"
        return END_CODES_OUT.format(source=source)
    if campaign.reward_type == C.RewardType.POINTS and campaign.budget_campaign is not None:
        if campaign.budget_campaign - used < _smallest_reward(campaign):
            return END_BUDGET
        return None
    if (
        campaign.reward_type in (C.RewardType.COUPON, C.RewardType.VOUCHER)
        and campaign.max_codes_per_campaign
        and given >= campaign.max_codes_per_campaign
    ):
        return _code_limits(campaign)[2]
    return None


def _complete_if_used_up(campaign: Campaign, *, used: Decimal, given: int, now, codes_out: bool = False) -> None:
    reason = used_up_reason(campaign, used=used, given=given, codes_out=codes_out)
    if reason:
        campaign_complete(campaign=campaign, reason=reason, now=now)


def campaign_complete(*, campaign: Campaign, reason: str, now: datetime.datetime) -> bool:
    """A live campaign's end (budget or limit used up, end time): Completed with the reason shown."""
    done = Campaign.objects.filter(
        pk=campaign.pk, status__in=(C.Status.SCHEDULED, C.Status.RUNNING, C.Status.PAUSED)
    ).update(status=C.Status.COMPLETED, end_reason=reason, updated_at=now)
    if done:
        InactionCheck.objects.filter(campaign=campaign, status=InactionCheck.Status.PENDING).update(
            status=InactionCheck.Status.CANCELLED, processed_at=now
        )
    return bool(done)


def _system_events(campaign: Campaign, items: list[Item], outcome: dict) -> list[tuple[int, str, dict]]:
    return [
        system_events.system_event(
            campaign,
            profile_id=i.profile_id,
            points=outcome[i.occurrence][1],
            code=outcome[i.occurrence][2],
            depth=i.depth,
        )
        for i in items
        if not outcome[i.occurrence][0]
    ]


def grant_items_locked(
    *,
    campaign: Campaign,
    items: list[Item],
    now: datetime.datetime | None = None,
    rng=None,
    events_sink: list | None = None,
) -> list[Grant]:
    """Reward items of a campaign whose row the caller locked FOR NO KEY UPDATE in its transaction.

    The system events of what is given are recorded here, or appended to `events_sink` for
    the caller to record together with other campaigns' (in the same transaction).
    """
    now = now or timezone.now()
    done = set(
        Grant.objects.filter(campaign=campaign, occurrence__in=[i.occurrence for i in items]).values_list(
            "profile_id", "occurrence"
        )
    )
    seen = set()
    fresh = []
    for item in items:
        key = (item.profile_id, item.occurrence)
        if key not in done and key not in seen:
            seen.add(key)
            fresh.append(item)
    if not fresh:
        return []
    if campaign.status in (C.Status.PAUSED, C.Status.STOPPED):
        outcome = {i.occurrence: (R.CAMPAIGN_PAUSED, None, "") for i in fresh}
    elif not _is_live_now(campaign, now):
        # Completed (budget, limit or end time), archived or not started: it matches nothing any more.
        return []
    else:
        # Held-out items (the goal's holdout group) never reach the budget, cap or code decisions.
        held = holdout.held_out_ids(
            campaign_id=campaign.pk, profile_ids={i.profile_id for i in fresh}, percent=campaign.holdout_percent
        )
        outcome = {i.occurrence: (R.HELD_OUT, None, "") for i in fresh if i.profile_id in held}
        rest = [i for i in fresh if i.profile_id not in held]
        if rest:
            outcome.update(_decide_and_give(campaign, rest, now, rng or random.Random()))
    granted_ids = {i.profile_id for i in fresh if not outcome[i.occurrence][0]}
    before = set(
        Grant.objects.filter(campaign=campaign, granted=True, profile_id__in=granted_ids)
        .values_list("profile_id", flat=True)
        .distinct()
    )
    rows = [
        Grant(
            campaign=campaign,
            profile_id=i.profile_id,
            occurrence=i.occurrence,
            granted=not outcome[i.occurrence][0],
            reason=outcome[i.occurrence][0],
            points=outcome[i.occurrence][1],
            code=outcome[i.occurrence][2],
            created_at=now,
        )
        for i in fresh
    ]
    Grant.objects.bulk_create(rows)
    if granted_ids - before:
        Campaign.objects.filter(pk=campaign.pk).update(
            rewarded_profiles=F("rewarded_profiles") + len(granted_ids - before)
        )
    given = _system_events(campaign, fresh, outcome)
    if events_sink is not None:
        events_sink.extend(given)
    else:
        segment_services.system_events_record(events=given, now=now)
    return rows


def _lock_campaign(campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.select_for_update(no_key=True, of=("self",))
        .select_related("wallet", "coupon", "voucher_list")
        .filter(pk=campaign_id)
        .first()
    )


def grant_items(*, campaign_id: int, items: list[Item], rng=None) -> list[Grant]:
    """Reward items of one live campaign in one transaction (campaign row locked: see the module doc)."""
    with transaction.atomic():
        campaign = _lock_campaign(campaign_id)
        if campaign is None:
            return []
        return grant_items_locked(campaign=campaign, items=items, rng=rng)


# --- The sweep: inaction checks, live start and end --------------------------------------------


def _b_arrived(campaign: Campaign) -> Exists:
    """Whether event B arrived between A and the check's due time (by the events' own time)."""
    b = Event.objects.filter(
        profile_id=OuterRef("profile_id"),
        name=campaign.inaction_event_b,
        occurred_at__gte=OuterRef("a_occurred_at"),
        occurred_at__lte=OuterRef("due_at"),
    ).exclude(pk=OuterRef("event_a_id"))
    if campaign.constant_property:
        b = b.annotate(_constant=KeyTransform(campaign.constant_property, "properties")).filter(
            _constant=OuterRef("constant_value")
        )
    return Exists(b)


def _inaction_batch(campaign_id: int, now: datetime.datetime, limit: int) -> int:
    """One batch of a campaign's due checks in one transaction; returns how many were claimed."""
    with transaction.atomic():
        campaign = _lock_campaign(campaign_id)
        if campaign is None:
            return 0
        checks = list(
            InactionCheck.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=InactionCheck.Status.PENDING, due_at__lte=now)
            .annotate(b_arrived=_b_arrived(campaign))
            .order_by("due_at", "pk")[:limit]
        )
        if not checks:
            return 0
        if campaign.status not in (C.Status.PAUSED, C.Status.STOPPED) and not _is_live_now(campaign, now):
            InactionCheck.objects.filter(pk__in=[c.pk for c in checks]).update(
                status=InactionCheck.Status.CANCELLED, processed_at=now
            )
            return len(checks)
        due = [c for c in checks if not c.b_arrived]
        if due and isinstance(campaign.past_filter, dict) and campaign.past_filter.get("rules"):
            keep = _past_filter_keep(campaign, due, now)
            due = [c for c in due if c.pk in keep]
        due_ids = {c.pk for c in due}
        grant_items_locked(
            campaign=campaign,
            items=[Item(profile_id=c.profile_id, occurrence=c.occurrence, at=c.due_at) for c in due],
            now=now,
        )
        InactionCheck.objects.filter(pk__in=sorted(due_ids)).update(
            status=InactionCheck.Status.REWARDED, processed_at=now
        )
        InactionCheck.objects.filter(pk__in=[c.pk for c in checks if c.pk not in due_ids]).update(
            status=InactionCheck.Status.DISCARDED, processed_at=now
        )
        return len(checks)


def _past_filter_keep(campaign: Campaign, checks: list[InactionCheck], now) -> set[int]:
    tree = campaign.past_filter
    try:
        condition = segment_selectors.rules_q(rules=tree, now=now)
    except ValidationError:
        return set()
    ok = set(
        Profile.objects.filter(pk__in={c.profile_id for c in checks}).filter(condition).values_list("pk", flat=True)
    )
    return {c.pk for c in checks if c.profile_id in ok}


def inaction_checks_process(*, now: datetime.datetime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Grant due checks whose B did not arrive, discard the others; safe to run twice or concurrently."""
    now = now or timezone.now()
    campaign_ids = sorted(
        set(
            InactionCheck.objects.filter(status=InactionCheck.Status.PENDING, due_at__lte=now)
            .values_list("campaign_id", flat=True)
            .distinct()
        )
    )
    processed = 0
    for campaign_id in campaign_ids:
        while True:
            claimed = _inaction_batch(campaign_id, now, batch)
            processed += claimed
            if claimed < batch:
                break
    return processed


def live_campaigns_start_and_end(*, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Scheduled live campaigns whose start came become Running; those past their end, Completed."""
    now = now or timezone.now()
    live = (C.Qualification.LIVE_ACTION, C.Qualification.LIVE_INACTION)
    started = (
        Campaign.objects.filter(qualification__in=live, status=C.Status.SCHEDULED, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .update(status=C.Status.RUNNING, updated_at=now)
    )
    ended = 0
    for campaign in Campaign.objects.filter(
        qualification__in=live,
        status__in=(C.Status.SCHEDULED, C.Status.RUNNING, C.Status.PAUSED),
        ends_at__lte=now,
    ).only("pk"):
        with transaction.atomic():
            locked = _lock_campaign(campaign.pk)
            if locked is not None:
                ended += campaign_complete(campaign=locked, reason=END_TIME, now=now)
    return started, ended


def live_sweep(*, now: datetime.datetime | None = None) -> dict:
    """The beat job: due inaction checks first (they were earned before any end), then start /
    end, then any batch still waiting in the inbox (its task was lost)."""
    now = now or timezone.now()
    checks = inaction_checks_process(now=now)
    started, ended = live_campaigns_start_and_end(now=now)
    drained = inbox_drain()
    return {"checks": checks, "started": started, "ended": ended, "batches": drained["batches"]}


# --- The inbox: batches waiting for matching -------------------------------------------------

# A lost counter race (rolled back, nothing given) or a deadlock / lost connection: the same
# batches are simply matched again (grants are unique per event). The task retries on these.
RETRYABLE = (LimitRace, OperationalError)


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
