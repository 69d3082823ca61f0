"""The distribution engine for runs of past-behaviour / custom-list campaigns (SPEC 6.1–6.3).

- `points_for` / `points_lifecycle`: what a points reward is worth and when it lives (SPEC 6.2).
- `runs_dispatch_due`: the beat job; claims due pending runs (SKIP LOCKED), starts them, plans
  the next recurring run, and wakes `promotions.run_distribute` after commit (the running run row is
  the record of the work owed: `runs_recover_stalled` re-sends a chunk whose wake-up was lost).
- `run_distribute_chunk`: one chunk of a run in one transaction: keyset page of the audience
  (profile id > run.cursor), one bulk catalogue call, one bulk grant insert, counters moved.

Idempotency: the run row is locked for the whole chunk (two deliveries of the same task
serialise and the second sees the moved cursor), grants are unique per (campaign, profile,
occurrence), and every catalogue bulk service is idempotent per (campaign, profile, occurrence).
A crash inside a chunk rolls back the catalogue writes, the grants and the cursor together.
A chunk task lost with its worker is re-enqueued by `runs_recover_stalled` (run heartbeat).
"""

import datetime
import math
import random
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from config import outbox, pg_arrays
from config.account import account_tzinfo
from config.row_triggers import keys_locked, row_triggers_skippable, row_triggers_skipped
from coupons import services as coupon_services
from coupons.models import CodeAssignment, Coupon
from promotions import catalogue, holdout, schedule, system_events
from promotions.models import Campaign, CampaignRun, Grant
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
    here, the campaign and run rows (the chunk already holds stronger locks on both).
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


def _audience(campaign: Campaign, run: CampaignRun):
    """Profile ids of the run's audience still to do, in id order (keyset from run.cursor)."""
    rules = catalogue.audience_rules(campaign)
    if rules is None:
        return None
    ids = segment_selectors.segment_profile_ids(rules=rules, after=run.cursor)
    # Without "reward again", leave out profiles an earlier run rewarded; asked only when an
    # earlier run gave anything (the run counters), so a one-time campaign's chunks never
    # scan the campaign's grants.
    if not campaign.reward_again and campaign.runs.filter(granted__gt=0).exclude(pk=run.pk).exists():
        earlier = Grant.objects.filter(campaign=campaign, granted=True).exclude(occurrence=occurrence_for_run(run.pk))
        ids = ids.exclude(id__in=earlier.values("profile_id"))
    return ids.order_by("id").values_list("id", flat=True)


def _enqueue(run_id: int) -> None:
    """Wake the run's next chunk. Only a wake-up call: the run row (RUNNING, cursor, heartbeat)
    is the durable record of the work owed, and `runs_recover_stalled` re-sends a chunk whose
    task never came, so a broker failure here is logged, never raised to the caller."""
    outbox.outbox_wake(topic=RUN_TASK, args=(run_id,))


def run_distribute_chunk(*, run_id: int, chunk_size: int | None = None) -> str:
    """Distribute the next chunk of a running run; MORE, DONE (finished or nothing to do) or HALTED (paused)."""
    chunk_size = chunk_size or settings.RUN_CHUNK_SIZE
    with transaction.atomic():
        run = CampaignRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != CampaignRun.Status.RUNNING:
            return DONE
        # Locks out Pause / Stop until this chunk commits: nothing is given after they commit.
        campaign = (
            Campaign.objects.select_for_update(no_key=True, of=("self",))
            .select_related("wallet", "coupon", "voucher_list")
            .get(pk=run.campaign_id)
        )
        if campaign.status == C.Status.PAUSED:
            return HALTED
        if campaign.status != C.Status.RUNNING:
            CampaignRun.objects.filter(pk=run.pk).update(
                status=CampaignRun.Status.CANCELLED, finished_at=timezone.now()
            )
            return DONE
        audience = _audience(campaign, run)
        ids = list(audience[:chunk_size]) if audience is not None else []
        if not ids:
            _finish(run, campaign)
            return DONE
        new, granted, exhausted = reward_profiles(
            campaign=campaign, profile_ids=ids, occurrence=occurrence_for_run(run.pk), run=run
        )
        run_update = {
            "processed": F("processed") + new,
            # The audience was counted at the start; profiles that joined since are processed
            # too, so the total grows with them and the progress never passes 100 %.
            "total": Greatest(F("total"), F("processed") + new),
            "granted": F("granted") + granted,
            "cursor": ids[-1],
            "heartbeat_at": timezone.now(),
        }
        if exhausted:
            run_update["error"] = MSG_CODES_OUT
        CampaignRun.objects.filter(pk=run.pk).update(**run_update)
        first_time = _first_time_rewarded(campaign, occurrence_for_run(run.pk), ids, granted)
        if first_time:
            Campaign.objects.filter(pk=campaign.pk).update(rewarded_profiles=F("rewarded_profiles") + first_time)
        more = len(ids) == chunk_size
        if not more:
            run.refresh_from_db()
            _finish(run, campaign)
            return DONE
    return MORE


def _first_time_rewarded(campaign: Campaign, occurrence: str, profile_ids: list[int], granted: int) -> int:
    """How many of the `granted` rewards of `occurrence` went to a profile the campaign never rewarded before.

    Campaign.rewarded_profiles counts profiles, not rewards: with "reward again on later runs" a
    profile rewarded on an earlier run is already counted. One query; called under the campaign
    row lock the chunk holds, so two chunks of the campaign never count the same profile.
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


def _finish(run: CampaignRun, campaign: Campaign) -> None:
    now = timezone.now()
    CampaignRun.objects.filter(pk=run.pk, status=CampaignRun.Status.RUNNING).update(
        status=CampaignRun.Status.COMPLETED, finished_at=now
    )
    if campaign.delivery == C.Delivery.RECURRING:
        if campaign.runs.filter(status__in=(CampaignRun.Status.PENDING, CampaignRun.Status.RUNNING)).exists():
            return
        reason = END_NO_RUNS
    else:
        reason = END_DONE
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.RUNNING).update(
        status=C.Status.COMPLETED, end_reason=reason, updated_at=now
    )


def run_start(*, run: CampaignRun, campaign: Campaign, now: datetime.datetime) -> None:
    """Mark a claimed pending run running (audience counted now), plan the next recurring run."""
    rules = catalogue.audience_rules(campaign)
    total = segment_selectors.audience_count(rules=rules) if rules is not None else 0
    CampaignRun.objects.filter(pk=run.pk).update(
        status=CampaignRun.Status.RUNNING, started_at=now, heartbeat_at=now, total=total
    )
    Campaign.objects.filter(pk=campaign.pk, status=C.Status.SCHEDULED).update(status=C.Status.RUNNING, updated_at=now)
    if campaign.delivery == C.Delivery.RECURRING:
        after = max(now, run.scheduled_for)
        upcoming = schedule.campaign_next_occurrence(campaign, tz=account_tzinfo(), after=after, inclusive=False)
        if upcoming is not None:
            CampaignRun.objects.get_or_create(campaign=campaign, scheduled_for=upcoming)
    transaction.on_commit(lambda: _enqueue(run.pk))


def runs_dispatch_due(*, now: datetime.datetime | None = None) -> list[int]:
    """Claim due pending runs (SKIP LOCKED) and start them; returns the ids started.

    Only the latest overdue run of a campaign starts (older ones are cancelled as missed), so
    a scheduler outage runs a missed occurrence once, not once per missed tick. Runs of a
    paused campaign wait; those of a stopped / completed / archived one are cancelled.
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
        seen = set()
        for run in due:
            campaign = run.campaign
            if campaign.status == C.Status.PAUSED:
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
    """After Resume: continue the campaign's runs that a pause halted between chunks."""
    running = campaign.runs.filter(status=CampaignRun.Status.RUNNING)
    run_ids = list(running.values_list("pk", flat=True))
    running.update(heartbeat_at=timezone.now())  # a fresh task is on its way: not stalled
    for run_id in run_ids:
        transaction.on_commit(lambda run_id=run_id: _enqueue(run_id))


def runs_recover_stalled(*, now: datetime.datetime | None = None) -> list[int]:
    """Enqueue again the running runs whose chunk task was lost; returns their ids.

    A run's chunk task can vanish: a worker killed before it acknowledged (Redis redelivers an
    unacknowledged task only after the visibility timeout, an hour), a broker that lost the
    message, a publish that failed after the commit. A running run with no heartbeat for
    RUN_STALL_SECONDS gets a new chunk task. Safe because a chunk is idempotent: it locks the
    run row and resumes at the cursor, so a late original delivery just finds less to do. A run
    whose chunk is working right now holds its row lock and is skipped (SKIP LOCKED); runs of a
    paused campaign wait for Resume.
    """
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.RUN_STALL_SECONDS)
    with transaction.atomic():
        stalled = list(
            CampaignRun.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=CampaignRun.Status.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            .exclude(campaign__status=C.Status.PAUSED)
            .order_by("pk")
            .values_list("pk", flat=True)[:DISPATCH_BATCH]
        )
        if stalled:
            CampaignRun.objects.filter(pk__in=stalled).update(heartbeat_at=now)
            for run_id in stalled:
                transaction.on_commit(lambda run_id=run_id: _enqueue(run_id))
    return stalled
