"""Budgets, caps and recurrence counters: THE decision of what each item gets (`decide`, shared
with the forecast's replay) and, in the grant's transaction, the counters it moves (`decide_and_give`).

Per-user periods (day / week / month recurrence) are the calendar periods in the account
timezone of the triggering event's time (inaction: the check's due time). The counters move only
by conditional UPDATEs (`… WHERE used + n <= limit`) whose row count must match: a mismatch
raises `LimitRace` and rolls the whole batch back, so nothing ever overshoots. Coupon and
voucher rewards are claimed for the whole batch at once (`rewards.codes_give`); points are
credited for the whole batch in one statement (`rewards.points_credit_each`).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import F

from accounts.account import account_tzinfo
from coupons.models import Coupon
from promotions.engine import rewards
from promotions.models import Campaign, CampaignCounter, Grant, InactionCheck, ProfileCounter
from vouchers import selectors as voucher_selectors

C = Campaign
R = Grant.Reason

END_BUDGET = "Campaign points budget used up"
END_COUPONS = "Campaign coupon limit reached"
END_VOUCHERS = "Campaign voucher limit reached"
END_CODES_OUT = "Codes ran out: the {source} has no code left to give"
CODES_OUT = (R.BULK_CODES_EXHAUSTED, R.VOUCHER_CODES_EXHAUSTED)


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
            points = rewards.points_for(campaign, wallet=wallet, value=item.value, rng=rng)
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


def decide_and_give(campaign: Campaign, items: list[Item], now: datetime.datetime, rng) -> dict:
    """occurrence → (reason, points, code); consumes the counters (conditional UPDATEs) for what is given."""
    tz = account_tzinfo()
    counter, _ = CampaignCounter.objects.get_or_create(campaign=campaign)
    counters = Counters(used=counter.points_used, given=counter.rewards, per_user=_counter_rows(campaign, items, tz))
    kind = campaign.reward_type
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
        rewards.points_credit_each(
            campaign, credits=[(i.profile_id, i.occurrence, outcome[i.occurrence][1]) for i in granted], now=now
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
    codes_out = any(o[0] in CODES_OUT for o in outcome.values())
    _complete_if_used_up(campaign, used=used, given=given, now=now, codes_out=codes_out)
    return outcome


def _decide_with_codes(campaign: Campaign, items: list[Item], counters: Counters, tz, rng, now):
    """`decide` for a code campaign, its codes claimed set-based: one claim statement for the
    batch (codes/pool.py), not one per item. The items the caps let through are decided
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
    held = rewards.codes_give(campaign, wanting, now) if wanting else {}
    if len(held) == len(wanting):
        outcome = {occ: (reason, points, held.get(occ, code)) for occ, (reason, points, code) in outcome.items()}
        return outcome, deltas, limits, counters
    out_reason = _codes_out_reason(campaign)

    def take_code(item: Item) -> tuple[str, str]:
        code = held.get(item.occurrence)
        return ("", code) if code else (out_reason, "")

    outcome, deltas, limits = decide(campaign, items, counters=before, tz=tz, rng=rng, take_code=take_code)
    return outcome, deltas, limits, before


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
