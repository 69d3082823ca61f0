"""Grant rows and the system events of what was given (SPEC 2.1, 6.1–6.4).

- `reward_profiles`: a run chunk's profiles rewarded (`rewards.rewards_give`), their grants in one
  insert, their system events in one statement.
- `grant_items_locked` / `grant_items`: a live batch of one campaign decided (`limits`) and given,
  one grant per occurrence, in the transaction that holds the campaign row (`lock_campaign`).
- System events: `Points Credited`, `Coupon Rewarded`, `Voucher Rewarded` for every reward given,
  so other live campaigns can trigger on them. Properties: Campaign ID, Trigger Depth (1 for a
  reward caused by a user's own event or a run, n + 1 for one caused by a system event of depth
  n), and Wallet ID + Points, Coupon ID + Code or Voucher List ID + Code. `promotions.engine.live`
  reads Campaign ID and Trigger Depth to break loops.

Occurrence = "run:<id>", "event:<id>" or "check:<id>": grants are unique per (campaign, profile,
occurrence), so a re-delivered task gives nothing twice.
"""

import datetime
import random
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core import db
from core.db import keys_locked, row_triggers_skippable, row_triggers_skipped
from promotions import holdout
from promotions.engine import limits, rewards
from promotions.models import Campaign, Grant
from segments import services as segment_services
from segments.services import json_number

C = Campaign
R = Grant.Reason

POINTS_CREDITED, COUPON_REWARDED, VOUCHER_REWARDED = "Points Credited", "Coupon Rewarded", "Voucher Rewarded"
NAMES = (POINTS_CREDITED, COUPON_REWARDED, VOUCHER_REWARDED)
PROP_CAMPAIGN, PROP_DEPTH = "Campaign ID", "Trigger Depth"


def system_event_shape(campaign: Campaign) -> tuple[str, dict, str]:
    """(event name, the properties every reward of `campaign` shares, the one that varies: "Points" or "Code").

    Trigger Depth 1: a reward of a run, or caused by a user's own event.
    """
    props = {PROP_CAMPAIGN: campaign.pk, PROP_DEPTH: 1}
    if campaign.reward_type == Campaign.RewardType.POINTS:
        return POINTS_CREDITED, {**props, "Wallet ID": campaign.wallet_id}, "Points"
    if campaign.reward_type == Campaign.RewardType.COUPON:
        return COUPON_REWARDED, {**props, "Coupon ID": campaign.coupon_id}, "Code"
    return VOUCHER_REWARDED, {**props, "Voucher List ID": campaign.voucher_list_id}, "Code"


def system_event(campaign: Campaign, *, profile_id: int, points=None, code: str = "", depth: int = 1):
    """(profile id, event name, properties) of the system event for one reward given."""
    name, props, varying = system_event_shape(campaign)
    props[PROP_DEPTH] = depth
    props[varying] = json_number(Decimal(points)) if varying == "Points" else code
    return profile_id, name, props


# --- A run chunk's grants ------------------------------------------------------------------------


def reward_profiles(
    *, campaign: Campaign, profile_ids: list[int], occurrence: str, run=None, rng=None
) -> tuple[int, int, int]:
    """Reward `profile_ids` for one occurrence and record a Grant each; call inside a transaction.

    Returns (new grant rows, of which granted, of which a code ran out). Profiles that already
    have a grant for the occurrence keep it (nothing is given twice, nothing counted twice).
    """
    now = timezone.now()
    ids = sorted(set(profile_ids))
    if not ids:
        return 0, 0, 0
    # The holdout is decided before anything is given: held-out profiles reach no catalogue
    # service (no points, budget or code) and get a "Held out" grant in the same insert.
    held = holdout.held_out_ids(campaign_id=campaign.pk, profile_ids=ids, percent=campaign.holdout_percent)
    to_reward = [pid for pid in ids if pid not in held] if held else ids
    outcome = dict.fromkeys(held, (R.HELD_OUT, None, ""))
    if to_reward:
        outcome.update(rewards.rewards_give(campaign, to_reward, occurrence, now, rng))
    new = _grants_insert(
        ids, outcome, campaign_id=campaign.pk, occurrence=occurrence, run_id=run.pk if run else None, now=now
    )
    granted = [pid for pid in new if not outcome[pid][0]]
    if granted:
        name, common, varying = system_event_shape(campaign)
        column = 1 if varying == "Points" else 2  # outcome = (reason, points, code)
        segment_services.system_events_record_columns(
            name=name,
            profile_ids=granted,
            common=common,
            varying={varying: [outcome[pid][column] for pid in granted]},
            now=now,
        )
    exhausted = sum(1 for pid in new if outcome[pid][0] in (R.BULK_CODES_EXHAUSTED, R.VOUCHER_CODES_EXHAUSTED))
    return len(new), len(granted), exhausted


def _grants_insert(
    ids: list[int], outcome: dict, *, campaign_id: int, occurrence: str, run_id: int | None, now
) -> list[int]:
    """Insert one chunk's grant rows in one statement; returns the profile ids whose grant is new.

    A grant already there is left as it is. The columns travel as arrays through `unnest`
    (`bulk_create` compiles every object into its own placeholders: 45,000 parameters for a
    5,000-profile chunk), and the per-row foreign-key triggers give way to the statement's own
    locks where the role may skip them (core/db.py): the profiles
    here, the campaign and run rows FOR KEY SHARE (a chunk holds the campaign FOR SHARE anyway).
    A column whose values are all equal (a flat run's points, empty reasons and codes) travels
    as one value (`db.array_column`).
    """
    skip = row_triggers_skippable()
    columns = [
        db.array_column([outcome[pid][n] for pid in ids], kind)
        for n, kind in enumerate(("text", "numeric", "text"))  # reason, points, code
    ]
    arrays = ", ".join(sql for sql, _ in columns)
    with connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip):
        if skip:
            keys_locked(cursor, ("promotions_campaign", campaign_id), ("promotions_campaignrun", run_id))
        cursor.execute(
            f"""
            INSERT INTO promotions_grant
                (campaign_id, profile_id, occurrence, run_id, granted, reason, points, code, created_at)
            SELECT %s, t.profile_id, %s, %s, t.reason = '', t.reason, t.points, t.code, %s
            FROM unnest(%s::bigint[], {arrays}) AS t(profile_id, reason, points, code)
            JOIN segments_profile AS p ON p.id = t.profile_id AND p.id BETWEEN %s AND %s
            ORDER BY t.profile_id
            {"FOR KEY SHARE OF p" if skip else ""}
            ON CONFLICT (campaign_id, profile_id, occurrence) DO NOTHING
            RETURNING profile_id
            """,  # noqa: S608 (constants only)
            [
                campaign_id,
                occurrence,
                run_id,
                now,
                db.int_array(ids),
                *(param for _, params in columns for param in params),
                ids[0],  # the ids are sorted: the range keeps the profile join to the chunk's
                ids[-1],  # slice of the primary key instead of a hash of the whole table
            ],
        )
        return sorted(row[0] for row in cursor.fetchall())


# --- A live batch's grants ------------------------------------------------------------------------


def is_live_now(campaign: Campaign, now: datetime.datetime) -> bool:
    return campaign.status == C.Status.RUNNING or (
        campaign.status == C.Status.SCHEDULED and campaign.starts_at is not None and campaign.starts_at <= now
    )


def _system_events(campaign: Campaign, items: list[limits.Item], outcome: dict) -> list[tuple[int, str, dict]]:
    return [
        system_event(
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
    items: list[limits.Item],
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
    elif not is_live_now(campaign, now):
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
            outcome.update(limits.decide_and_give(campaign, rest, now, rng or random.Random()))
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


def lock_campaign(campaign_id: int) -> Campaign | None:
    return (
        Campaign.objects.select_for_update(no_key=True, of=("self",))
        .select_related("wallet", "coupon", "voucher_list")
        .filter(pk=campaign_id)
        .first()
    )


def grant_items(*, campaign_id: int, items: list[limits.Item], rng=None) -> list[Grant]:
    """Reward items of one live campaign in one transaction (campaign row locked: see the module doc)."""
    with transaction.atomic():
        campaign = lock_campaign(campaign_id)
        if campaign is None:
            return []
        return grant_items_locked(campaign=campaign, items=items, rng=rng)
