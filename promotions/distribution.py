"""The distribution engine for runs of past-behaviour / custom-list campaigns (SPEC 6.1–6.3).

- `points_for` / `points_lifecycle`: what a points reward is worth and when it lives (SPEC 6.2).
- `runs_dispatch_due`: the beat job; claims due pending runs (SKIP LOCKED), starts them (cut into
  partitions: ranges of profile ids at the audience's quantiles), plans the next recurring run,
  and wakes `promotions.run_distribute` once per partition after commit (the partition rows are
  the record of the work owed: `runs_recover_stalled` re-sends a chunk whose wake-up was lost).
- `run_distribute_chunk`: one chunk of one partition in one transaction: keyset page of the
  audience in the partition's range (profile id > partition.cursor), one bulk catalogue call,
  one bulk grant insert, the partition's counters moved. Partitions of a run go in parallel on
  any number of workers (the locking is described at "Runs" below).

Idempotency: the partition row is locked for the whole chunk (two deliveries of the same task
serialise and the second sees the moved cursor), grants are unique per (campaign, profile,
occurrence), and every catalogue bulk service is idempotent per (campaign, profile, occurrence).
A crash inside a chunk rolls back the catalogue writes, the grants and the cursor together.
A chunk task lost with its worker is re-enqueued by `runs_recover_stalled` (partition heartbeat).
"""

import datetime
import math
import random
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from config import outbox, pg_arrays
from config.account import account_tzinfo
from config.row_triggers import keys_locked, row_triggers_skippable, row_triggers_skipped
from coupons import services as coupon_services
from coupons.models import CodeAssignment, Coupon
from promotions import catalogue, holdout, schedule, system_events
from promotions.models import Campaign, CampaignRun, CampaignRunPartition, Grant
from promotions.points import random_points_draw
from segments import selectors as segment_selectors
from segments import services as segment_services
from vouchers import selectors as voucher_selectors
from vouchers import services as voucher_services
from vouchers.models import VoucherAssignment
from wallets import services as wallet_services
from wallets.models import Lot

C = Campaign
R = Grant.Reason
DISPATCH_BATCH = 200

MORE, DONE, HALTED = "more", "done", "halted"
RUN_TASK = "promotions.run_distribute"
# pg advisory lock key space of the campaign gate (campaign_gate_shared / _exclusive).
GATE_SPACE = 18_018
MSG_MISSED = "Missed while the scheduler was down; a later occurrence ran instead."
MSG_CODES_OUT = "Codes ran out: the remaining profiles of this run got no code."
END_DONE = "Distribution finished"
END_NO_RUNS = "The recurring schedule has ended"

_DELAY = {
    C.DelayUnit.MINUTES: datetime.timedelta(minutes=1),
    C.DelayUnit.HOURS: datetime.timedelta(hours=1),
    C.DelayUnit.DAYS: datetime.timedelta(days=1),
}


def occurrence_for_run(run_id: int) -> str:
    return f"run:{run_id}"


# --- Points (SPEC 6.2) --------------------------------------------------------------------


def _number(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def points_for(campaign: Campaign, *, wallet, value=None, rng: random.Random | None = None) -> Decimal | None:
    """The points one reward is worth, capped and rounded; None = "Invalid points calculated".

    Flat = the value; Random = an integer draw in [min, max] (promotions.points); Percentage =
    value × X / 100; Proportional = floor(value / X) × Y; `value` is the event property's value.
    """
    kind = campaign.points_type
    if kind == C.PointsType.FLAT:
        amount = _number(campaign.flat_points)
    elif kind == C.PointsType.RANDOM:
        if campaign.random_min is None or campaign.random_max is None or campaign.random_min > campaign.random_max:
            return None
        amount = Decimal(
            random_points_draw(campaign.random_min, campaign.random_max, campaign.random_favor or "avg", rng=rng)
        )
    elif kind == C.PointsType.PERCENTAGE:
        base, pct = _number(value), _number(campaign.percentage)
        amount = None if base is None or pct is None else base * pct / 100
    elif kind == C.PointsType.PROPORTIONAL:
        base, units, per = _number(value), _number(campaign.proportional_units), _number(campaign.proportional_points)
        if base is None or units is None or per is None or units <= 0:
            amount = None
        else:
            amount = Decimal(math.floor(base / units)) * per
    else:
        amount = None
    if amount is None:
        return None
    cap = _number(campaign.max_points_per_reward)
    if cap is not None and amount > cap:
        amount = cap
    try:
        amount = wallet_services.wallet_round(wallet=wallet, amount=amount)
    except ValidationError:
        return None
    return amount if amount > 0 else None


def points_lifecycle(campaign: Campaign, *, now: datetime.datetime) -> tuple:
    """(activates_at, expires_at) for the lots; (None, None) = the wallet's defaults. A custom
    lifecycle whose expiry is "Never" gives `wallet_services.NEVER_EXPIRES` (not the default)."""
    if not campaign.custom_lifecycle:
        return None, None
    activates_at = now
    if campaign.activation == C.Activation.CUSTOM and campaign.activation_value and campaign.activation_unit:
        activates_at = now + _DELAY[campaign.activation_unit] * campaign.activation_value
    expires_at = wallet_services.NEVER_EXPIRES
    if campaign.expiry == C.Expiry.ON_DATE:
        expires_at = campaign.expiry_at
    elif campaign.expiry == C.Expiry.CUSTOM and campaign.expiry_days:
        expires_at = activates_at + datetime.timedelta(days=campaign.expiry_days)
    return activates_at, expires_at


def _redeemable_from(campaign: Campaign, now: datetime.datetime) -> datetime.datetime | None:
    if (
        campaign.redemption_activation == C.Activation.CUSTOM
        and campaign.redemption_delay_value
        and campaign.redemption_delay_unit
    ):
        return now + _DELAY[campaign.redemption_delay_unit] * campaign.redemption_delay_value
    return None


# --- Rewarding one chunk -------------------------------------------------------------------
#
# Each reward kind calls its catalogue's bulk service once for the chunk and maps profile id →
# (reason, points, code); the grants and the system events then go in with one statement each.
# The catalogue services are idempotent per (campaign, profile, occurrence) and return only
# what they gave now. A profile they skip already holds its reward for the occurrence, which can
# only come from a transaction that also wrote its grant (so its grant insert below is absorbed
# by ON CONFLICT), or is unknown; `_held` looks up what such profiles hold, so the record stays
# right even if that ever changes.


def _reward_points(campaign, ids, occurrence, now, rng) -> dict[int, tuple]:
    """profile id → (reason, points, code) for a points campaign."""
    wallet = campaign.wallet
    if wallet is None or not campaign.points_type:
        return dict.fromkeys(ids, (R.INVALID_WALLET, None, ""))
    if not wallet.is_active:
        return dict.fromkeys(ids, (R.INACTIVE_WALLET, None, ""))
    if campaign.points_type == C.PointsType.FLAT:
        flat = points_for(campaign, wallet=wallet)  # the same for everyone: worked out once
        if flat is None:
            return dict.fromkeys(ids, (R.INVALID_POINTS, None, ""))
        payable, points = ids, flat
        outcome = {}
    else:
        amounts = {pid: points_for(campaign, wallet=wallet, rng=rng) for pid in ids}
        points = {pid: amount for pid, amount in amounts.items() if amount is not None}
        payable = list(points)
        outcome = {pid: (R.INVALID_POINTS, None, "") for pid in ids if amounts[pid] is None}
    if payable:
        activates_at, expires_at = points_lifecycle(campaign, now=now)
        try:
            credited = wallet_services.wallet_credit_bulk(
                wallet=wallet,
                profile_ids=payable,
                points=points,
                campaign=campaign,
                occurrence=occurrence,
                description=campaign.name[:500],
                activates_at=activates_at,
                expires_at=expires_at,
            )
        except ValidationError:
            return dict.fromkeys(ids, (R.INVALID_WALLET, None, ""))
        amount = points.get if isinstance(points, dict) else lambda _pid: points
        outcome.update((pid, ("", amount(pid), "")) for pid in credited)
        skipped = [pid for pid in payable if pid not in outcome]
        held = _held(Lot.objects.filter(campaign=campaign, occurrence=occurrence), skipped, "amount")
        outcome.update((pid, ("", held[pid], "") if pid in held else (R.INVALID_WALLET, None, "")) for pid in skipped)
    return outcome


def _held(queryset, profile_ids: list[int], field: str) -> dict:
    """profile id → `field` of what `queryset` (one occurrence's rewards) already holds for them; usually none asked."""
    if not profile_ids:
        return {}
    return dict(queryset.filter(profile_id__in=profile_ids).values_list("profile_id", field))


def _reward_coupon(campaign, ids, occurrence, now) -> dict[int, tuple]:
    coupon = campaign.coupon
    if coupon is None or coupon.status != Coupon.Status.ACTIVE:
        return dict.fromkeys(ids, (R.INACTIVE_COUPON, None, ""))
    given = coupon_services.code_assign_bulk(
        coupon=coupon,
        profile_ids=ids,
        campaign=campaign,
        occurrence=occurrence,
        redeemable_from=_redeemable_from(campaign, now),
    )
    return _codes_outcome(
        ids,
        dict(given),
        CodeAssignment.objects.filter(coupon=coupon, campaign=campaign, occurrence=occurrence),
        "code",
        R.BULK_CODES_EXHAUSTED if coupon.kind == Coupon.Kind.BULK else R.COUPON_LIMIT_REACHED,
    )


def _codes_outcome(ids, given: dict, assignments, code_field: str, out_reason: str) -> dict[int, tuple]:
    held = {**_held(assignments, [pid for pid in ids if pid not in given], code_field), **given}
    return {pid: ("", None, held[pid]) if pid in held else (out_reason, None, "") for pid in ids}


def _reward_voucher(campaign, ids, occurrence) -> dict[int, tuple]:
    voucher_list = campaign.voucher_list
    if voucher_list is None or not voucher_selectors.voucher_list_usable().filter(pk=voucher_list.pk).exists():
        return dict.fromkeys(ids, (R.INACTIVE_VOUCHER_LIST, None, ""))
    given = voucher_services.voucher_assign_bulk(
        voucher_list=voucher_list, profile_ids=ids, campaign=campaign, occurrence=occurrence
    )
    return _codes_outcome(
        ids,
        dict(given),
        VoucherAssignment.objects.filter(voucher_list=voucher_list, campaign=campaign, occurrence=occurrence),
        "code__code",
        R.VOUCHER_CODES_EXHAUSTED,
    )


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
    if not to_reward:
        pass
    elif campaign.reward_type == C.RewardType.POINTS:
        outcome.update(_reward_points(campaign, to_reward, occurrence, now, rng))
    elif campaign.reward_type == C.RewardType.COUPON:
        outcome.update(_reward_coupon(campaign, to_reward, occurrence, now))
    elif campaign.reward_type == C.RewardType.VOUCHER:
        outcome.update(_reward_voucher(campaign, to_reward, occurrence))
    else:
        outcome.update(dict.fromkeys(to_reward, (R.INVALID_WALLET, None, "")))
    new = _grants_insert(
        ids, outcome, campaign_id=campaign.pk, occurrence=occurrence, run_id=run.pk if run else None, now=now
    )
    granted = [pid for pid in new if not outcome[pid][0]]
    if granted:
        name, common, varying = system_events.system_event_shape(campaign)
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
    locks where the role may skip them (config/row_triggers.py): the profiles
    here, the campaign and run rows FOR KEY SHARE (a chunk holds the campaign FOR SHARE anyway).
    """
    skip = row_triggers_skippable()
    with connection.cursor() as cursor, row_triggers_skipped(cursor, skip=skip):
        if skip:
            keys_locked(cursor, ("promotions_campaign", campaign_id), ("promotions_campaignrun", run_id))
        cursor.execute(
            f"""
            INSERT INTO promotions_grant
                (campaign_id, profile_id, occurrence, run_id, granted, reason, points, code, created_at)
            SELECT %s, t.profile_id, %s, %s, t.reason = '', t.reason, t.points, t.code, %s
            FROM unnest(%s::bigint[], %s::text[], %s::numeric[], %s::text[]) AS t(profile_id, reason, points, code)
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
                pg_arrays.int_array(ids),
                pg_arrays.text_array(outcome[pid][0] for pid in ids),
                pg_arrays.numeric_array(outcome[pid][1] for pid in ids),
                pg_arrays.text_array(outcome[pid][2] for pid in ids),
                ids[0],  # the ids are sorted: the range keeps the profile join to the chunk's
                ids[-1],  # slice of the primary key instead of a hash of the whole table
            ],
        )
        return sorted(row[0] for row in cursor.fetchall())


# --- Runs -----------------------------------------------------------------------------------
#
# A run is split into partitions (CampaignRunPartition): ranges of profile ids cut at the
# audience's quantiles when the run starts, each with its own cursor, counters and heartbeat,
# each its own chain of chunk tasks. Any worker takes any partition's next chunk, so a run uses
# as many workers as it has partitions. Locks, always taken in this order:
#
#   1. the partition row, FOR UPDATE: two deliveries of one partition's chunk serialise, and the
#      second finds the moved cursor (or the partition done);
#   2. the campaign gate (a shared transaction-level advisory lock) and the campaign row FOR
#      SHARE: chunks of every partition run side by side, while Pause / Stop / Archive take the
#      gate exclusively and then update the row, so they wait for the chunks in flight and no
#      chunk starts after they commit (it reads the campaign's status under its share lock). The
#      gate is a heavyweight lock, fair to a waiting Pause; row share locks alone would let a
#      stream of overlapping chunks starve its UPDATE;
#   3. only when its partition is done: the run row, FOR NO KEY UPDATE, to ask "was that the last
#      partition?" once the others' answers are committed — so exactly one partition finishes the
#      run, adding the partitions' counters into the run and the campaign rows.
#
# No chunk writes a row another partition's chunk writes: grants, lots and codes are per
# profile, and the counters are per partition (summed where they are read: selectors).


def _audience(campaign: Campaign, run: CampaignRun, partition: CampaignRunPartition):
    """Profile ids of the partition's audience still to do, in id order (keyset from its cursor)."""
    rules = catalogue.audience_rules(campaign)
    if rules is None:
        return None
    ids = segment_selectors.segment_profile_ids(rules=rules, after=partition.cursor)
    if partition.end is not None:
        ids = ids.filter(id__lte=partition.end)
    # Without "reward again", leave out profiles an earlier run rewarded; asked only when an
    # earlier run gave anything (the counters of finished runs: runs of a campaign do not
    # overlap), so a one-time campaign's chunks never scan the campaign's grants.
    if not campaign.reward_again and campaign.runs.filter(granted__gt=0).exclude(pk=run.pk).exists():
        earlier = Grant.objects.filter(campaign=campaign, granted=True).exclude(occurrence=occurrence_for_run(run.pk))
        ids = ids.exclude(id__in=earlier.values("profile_id"))
    return ids.order_by("id").values_list("id", flat=True)


def _enqueue(run_id: int, partition: int | None = None, chunk: int | None = None) -> None:
    """Wake the next chunk of a run's partition (by index; None: any partition still owed);
    `chunk`: the partition's count of chunks committed that the task expects (see _partition_chunk).

    Only a wake-up call: the partition row (not done, cursor, heartbeat) is the durable record
    of the work owed, and `runs_recover_stalled` re-sends a chunk whose task never came, so a
    broker failure here is logged, never raised to the caller."""
    args = (run_id,) if partition is None else (run_id, partition) if chunk is None else (run_id, partition, chunk)
    outbox.outbox_wake(topic=RUN_TASK, args=args)


def campaign_gate_shared(campaign_id: int) -> None:
    """Hold the campaign for a chunk until the transaction ends: the gate shared, the row FOR SHARE."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s); SELECT 1 FROM promotions_campaign WHERE id = %s FOR SHARE",
            [GATE_SPACE, campaign_id % 2**31, campaign_id],
        )


def campaign_gate_exclusive(campaign_id: int) -> None:
    """Before a status change that must stop a run (Pause, Stop, Archive): wait for the chunks in
    flight and keep new ones out until the transaction ends. Call inside the transaction, before
    the campaign row's UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [GATE_SPACE, campaign_id % 2**31])


def run_distribute_chunk(
    *, run_id: int, partition: int | None = None, chunk: int | None = None, chunk_size: int | None = None
) -> str:
    """Distribute the next chunk of one partition of a running run.

    With `partition` (its index): MORE (that partition has more), DONE (it is finished, or the
    run is, or — with `chunk`, the partition's count of chunks committed the task was sent for —
    another copy of this task already ran it) or HALTED (paused). Without: the chunk of the first
    partition still owed, and MORE until the whole run is done — one caller looping on it drives
    the run alone (tests, a chunk task queued before partitions existed).
    """
    if partition is not None:
        return _partition_chunk(run_id, partition, chunk_size, chunk)
    owed = (
        CampaignRunPartition.objects.filter(run_id=run_id, done=False, run__status=CampaignRun.Status.RUNNING)
        .order_by("index")
        .values_list("index", flat=True)
        .first()
    )
    if owed is None:
        return DONE
    outcome = _partition_chunk(run_id, owed, chunk_size, None)
    if outcome in (HALTED, MORE):
        return outcome
    running = CampaignRun.objects.filter(pk=run_id, status=CampaignRun.Status.RUNNING).exists()
    return MORE if running else DONE


def _partition_chunk(run_id: int, index: int, chunk_size: int | None, chunk: int | None) -> str:
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    with transaction.atomic():
        part = (
            CampaignRunPartition.objects.select_for_update(of=("self",))
            .select_related("run")
            .filter(run_id=run_id, index=index)
            .first()
        )
        if part is None or part.done or (chunk is not None and chunk != part.chunks):
            return DONE  # finished, or a copy of a task that already ran: its chain goes on elsewhere
        campaign_id = part.run.campaign_id
        campaign_gate_shared(campaign_id)
        # Read after the share lock: a Pause / Stop committed before it is seen here.
        run = CampaignRun.objects.get(pk=run_id)
        if run.status != CampaignRun.Status.RUNNING:
            return DONE
        campaign = Campaign.objects.select_related("wallet", "coupon", "voucher_list").get(pk=campaign_id)
        if campaign.status == C.Status.PAUSED:
            return HALTED
        if campaign.status != C.Status.RUNNING:
            # Stop settles its running runs itself; a run left running by any other way out of
            # Running is cancelled here. SKIP LOCKED: another partition settling it holds the row.
            _run_settle(run_id, campaign_id, CampaignRun.Status.CANCELLED, wait=False)
            return DONE
        audience = _audience(campaign, run, part)
        # One row past the chunk says whether the partition goes on: its last chunk ends it in
        # the same task instead of leaving an empty task to find nothing (a broker round trip).
        ids = list(audience[: chunk_size + 1]) if audience is not None else []
        more = len(ids) > chunk_size
        del ids[chunk_size:]
        if not ids:
            _partition_done(part, campaign)
            return DONE
        occurrence = occurrence_for_run(run_id)
        new, granted, exhausted = reward_profiles(campaign=campaign, profile_ids=ids, occurrence=occurrence, run=run)
        update = {
            "processed": F("processed") + new,
            "granted": F("granted") + granted,
            "rewarded": F("rewarded") + _first_time_rewarded(campaign, occurrence, ids, granted),
            "cursor": ids[-1],
            "chunks": F("chunks") + 1,
            "heartbeat_at": timezone.now(),
        }
        if exhausted:
            update["error"] = MSG_CODES_OUT
        CampaignRunPartition.objects.filter(pk=part.pk).update(**update)
        if not more:
            _partition_done(part, campaign)
            return DONE
    return MORE


def _first_time_rewarded(campaign: Campaign, occurrence: str, profile_ids: list[int], granted: int) -> int:
    """How many of the `granted` rewards of `occurrence` went to a profile the campaign never rewarded before.

    Campaign.rewarded_profiles counts profiles, not rewards: with "reward again on later runs" a
    profile rewarded on an earlier run is already counted. One query. The partitions of a run
    hold disjoint profiles and the runs of a campaign do not overlap (runs_dispatch_due), so no
    two chunks count the same profile.
    """
    if not granted or not campaign.reward_again:
        # Without "reward again" the audience already left out every profile rewarded before.
        return granted
    earlier = Grant.objects.filter(campaign=campaign, granted=True, profile_id__in=profile_ids).exclude(
        occurrence=occurrence
    )
    return (
        Grant.objects.filter(campaign=campaign, occurrence=occurrence, granted=True, profile_id__in=profile_ids)
        .exclude(profile_id__in=earlier.values("profile_id"))
        .count()
    )


def _partition_done(part: CampaignRunPartition, campaign: Campaign) -> None:
    """Mark the partition done; if it was the run's last, finish the run (exactly once)."""
    CampaignRunPartition.objects.filter(pk=part.pk).update(done=True, heartbeat_at=timezone.now())
    # Wait for the run row: a partition finishing at the same moment asks the same question, and
    # whichever asks second (a fresh snapshot once the lock is granted) sees the other done.
    run = CampaignRun.objects.select_for_update(no_key=True).filter(pk=part.run_id).first()
    if run is None or run.status != CampaignRun.Status.RUNNING:
        return
    if CampaignRunPartition.objects.filter(run_id=run.pk, done=False).exists():
        return
    _run_settle(run.pk, campaign.pk, CampaignRun.Status.COMPLETED, locked=True)
    _finish(run, campaign)


def _run_settle(run_id: int, campaign_id: int, status: str, *, wait: bool = True, locked: bool = False) -> bool:
    """End a running run as `status`, adding its partitions' counters into the run row and the
    campaign's profiles rewarded; once (the run row's status is the guard). False: not running
    (or, with wait=False, another transaction holds it)."""
    if not locked:
        run = (
            CampaignRun.objects.select_for_update(no_key=True, skip_locked=not wait)
            .filter(pk=run_id, status=CampaignRun.Status.RUNNING)
            .first()
        )
        if run is None:
            return False
    sums = CampaignRunPartition.objects.filter(run_id=run_id).aggregate(
        processed=Coalesce(Sum("processed"), 0),
        granted=Coalesce(Sum("granted"), 0),
        rewarded=Coalesce(Sum("rewarded"), 0),
        codes_out=Count("pk", filter=Q(error=MSG_CODES_OUT)),
    )
    update = {
        "status": status,
        "finished_at": timezone.now(),
        "processed": F("processed") + sums["processed"],
        # The audience was counted at the start; profiles that joined since are processed
        # too, so the total grows with them and the progress never passes 100 %.
        "total": Greatest(F("total"), F("processed") + sums["processed"]),
        "granted": F("granted") + sums["granted"],
        "rewarded": F("rewarded") + sums["rewarded"],
    }
    if sums["codes_out"]:
        update["error"] = MSG_CODES_OUT
    updated = CampaignRun.objects.filter(pk=run_id, status=CampaignRun.Status.RUNNING).update(**update)
    if updated and sums["rewarded"]:
        Campaign.objects.filter(pk=campaign_id).update(rewarded_profiles=F("rewarded_profiles") + sums["rewarded"])
    return bool(updated)


def _finish(run: CampaignRun, campaign: Campaign) -> None:
    """The run completed: a one-time campaign is done; a recurring one when its schedule has ended."""
    now = timezone.now()
    if campaign.delivery == C.Delivery.RECURRING:
        if campaign.runs.filter(status__in=(CampaignRun.Status.PENDING, CampaignRun.Status.RUNNING)).exists():
            return
        reason = END_NO_RUNS
    else:
        reason = END_DONE
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.RUNNING).update(
        status=C.Status.COMPLETED, end_reason=reason, updated_at=now
    )


def runs_cancel(*, campaign: Campaign) -> None:
    """Stop: cancel the campaign's running runs, their counters settled. Call in the Stop's
    transaction after its gate and UPDATE (no chunk is in flight: every partition's count is final)."""
    for run_id in campaign.runs.filter(status=CampaignRun.Status.RUNNING).values_list("pk", flat=True):
        _run_settle(run_id, campaign.pk, CampaignRun.Status.CANCELLED)


def partition_bounds(*, rules: dict, total: int, chunk_size: int | None = None) -> list[int]:
    """The profile ids that cut a run's audience into partitions of about equal size (ascending).

    As many partitions as keep every one at least a chunk long, at most RUN_PARTITIONS: one
    query (the audience's quantiles) when there is more than one partition, none otherwise.
    """
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    count = max(1, min(settings.RUN_PARTITIONS, total // max(1, chunk_size)))
    if count == 1:
        return []
    audience = segment_selectors.segment_profile_ids(rules=rules)
    sql, params = audience.query.sql_with_params()
    fractions = [k / count for k in range(1, count)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY a.id) FROM ({sql}) AS a",  # noqa: S608
            [fractions, *params],
        )
        cuts = cursor.fetchone()[0] or []
    return sorted({cut for cut in cuts if cut is not None})


def run_start(*, run: CampaignRun, campaign: Campaign, now: datetime.datetime) -> None:
    """Mark a claimed pending run running (audience counted now), cut it into partitions, wake a
    chunk task per partition after commit, plan the next recurring run."""
    rules = catalogue.audience_rules(campaign)
    total = segment_selectors.audience_count(rules=rules) if rules is not None else 0
    cuts = partition_bounds(rules=rules, total=total) if rules is not None else []
    starts, ends = [0, *cuts], [*cuts, None]
    CampaignRunPartition.objects.bulk_create(
        CampaignRunPartition(run=run, index=i, start=start, end=end, cursor=start, heartbeat_at=now)
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    )
    CampaignRun.objects.filter(pk=run.pk).update(
        status=CampaignRun.Status.RUNNING, started_at=now, heartbeat_at=now, total=total
    )
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.SCHEDULED).update(status=C.Status.RUNNING, updated_at=now)
    if campaign.delivery == C.Delivery.RECURRING:
        after = max(now, run.scheduled_for)
        upcoming = schedule.campaign_next_occurrence(campaign, tz=account_tzinfo(), after=after, inclusive=False)
        if upcoming is not None:
            CampaignRun.objects.get_or_create(campaign=campaign, scheduled_for=upcoming)
    for index in range(len(starts)):
        transaction.on_commit(lambda index=index: _enqueue(run.pk, index, 0))


def runs_dispatch_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Claim due pending runs (SKIP LOCKED) and start them; returns the ids started.

    Only the latest overdue run of a campaign starts (older ones are cancelled as missed), so
    a scheduler outage runs a missed occurrence once, not once per missed tick. Runs of a
    paused campaign wait; those of a stopped / completed / archived one are cancelled. A run
    due while an earlier run of its campaign is still running waits for it: the runs of a
    campaign never overlap (without "reward again" a run leaves out whom earlier runs rewarded).
    """
    now = now or timezone.now()
    started = []
    with transaction.atomic():
        due = list(
            CampaignRun.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign")
            .filter(status=CampaignRun.Status.PENDING, scheduled_for__lte=now)
            .order_by("campaign_id", "-scheduled_for")[:DISPATCH_BATCH]
        )
        busy = set(
            CampaignRun.objects.filter(
                campaign_id__in={run.campaign_id for run in due}, status=CampaignRun.Status.RUNNING
            ).values_list("campaign_id", flat=True)
        )
        seen = set()
        for run in due:
            campaign = run.campaign
            if campaign.status == C.Status.PAUSED or campaign.pk in busy:
                continue
            if campaign.status not in (C.Status.SCHEDULED, C.Status.RUNNING):
                CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.CANCELLED, finished_at=now)
                continue
            if campaign.pk in seen:
                CampaignRun.objects.filter(pk=run.pk).update(
                    status=CampaignRun.Status.CANCELLED, finished_at=now, error=MSG_MISSED
                )
                continue
            seen.add(campaign.pk)
            run_start(run=run, campaign=campaign, now=now)
            started.append(run.pk)
    return started


def runs_resume(*, campaign: Campaign) -> None:
    """After Resume: continue every partition of the campaign's runs that the pause halted."""
    owed = CampaignRunPartition.objects.filter(
        run__campaign=campaign, run__status=CampaignRun.Status.RUNNING, done=False
    )
    chains = list(owed.order_by("run_id", "index").values_list("run_id", "index", "chunks"))
    owed.update(heartbeat_at=timezone.now())  # a fresh task is on its way: not stalled
    for run_id, index, chunk in chains:
        transaction.on_commit(lambda run_id=run_id, index=index, chunk=chunk: _enqueue(run_id, index, chunk))


def runs_recover_stalled(*, now: datetime.datetime | None = None) -> list[int]:
    """Enqueue again the partitions of running runs whose chunk task was lost; returns their runs' ids.

    A partition's chunk task can vanish: a worker killed before it acknowledged (Redis
    redelivers an unacknowledged task only after the visibility timeout, an hour), a broker that
    lost the message, a publish that failed after the commit. A partition not done with no
    heartbeat for RUN_STALL_SECONDS gets a new chunk task. Safe because a chunk is idempotent:
    it locks the partition row and resumes at its cursor, so a late original delivery just finds
    less to do, and a copy of a task that was only slow in the queue ends at once (the chunk
    count it carries has moved). A partition whose chunk is working right now holds its row lock
    and is skipped (SKIP LOCKED); partitions of a paused campaign wait for Resume.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.RUN_STALL_SECONDS)
    with transaction.atomic():
        stalled = list(
            CampaignRunPartition.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(done=False, run__status=CampaignRun.Status.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            .exclude(run__campaign__status=C.Status.PAUSED)
            .order_by("pk")
            .values_list("pk", "run_id", "index", "chunks")[:DISPATCH_BATCH]
        )
        if stalled:
            CampaignRunPartition.objects.filter(pk__in=[row[0] for row in stalled]).update(heartbeat_at=now)
            for _, run_id, index, chunk in stalled:
                transaction.on_commit(lambda r=run_id, i=index, c=chunk: _enqueue(r, i, c))
    return list(dict.fromkeys(row[1] for row in stalled))
