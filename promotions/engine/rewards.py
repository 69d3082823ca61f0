"""Rewards: the ONLY promotions code that calls the catalogue apps' write services (SPEC 6.2).

What a points reward is worth and when it lives (`points_for`, `points_lifecycle`); points
credited, coupon codes and vouchers given: for a run chunk, one bulk call per chunk
(`rewards_give`); for a live batch, one occurrence each (`points_credit_each`, `codes_give`).
"""

import datetime
import math
import random
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from coupons import services as coupon_services
from coupons.models import CodeAssignment, Coupon
from promotions.models import Campaign, Grant
from promotions.points import random_points_draw, random_points_draws
from vouchers import selectors as voucher_selectors
from vouchers import services as voucher_services
from vouchers.models import VoucherAssignment
from wallets import services as wallet_services
from wallets.models import Lot

C = Campaign
R = Grant.Reason

_DELAY = {
    C.DelayUnit.MINUTES: datetime.timedelta(minutes=1),
    C.DelayUnit.HOURS: datetime.timedelta(hours=1),
    C.DelayUnit.DAYS: datetime.timedelta(days=1),
}


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


def _random_range_usable(campaign: Campaign) -> bool:
    """A Random points campaign with a usable range (otherwise `points_for` says "Invalid points")."""
    return (
        campaign.points_type == C.PointsType.RANDOM
        and campaign.random_min is not None
        and campaign.random_max is not None
        and campaign.random_min <= campaign.random_max
    )


def random_points_for_many(campaign: Campaign, *, wallet, count: int, rng: random.Random | None = None) -> list:
    """`count` Random rewards of a run chunk, each exactly what `points_for` gives for its draw.

    One generator for the chunk, and the cap and rounding worked out once: a draw is an integer,
    which the wallet's rounding (0–3 decimal places, up or down) leaves as it is, so a draw at or
    under the cap is itself and one over it is the cap as `points_for` rounds it.
    """
    draws = random_points_draws(
        campaign.random_min, campaign.random_max, campaign.random_favor or "avg", count, rng=rng or random.Random()
    )
    cap = _number(campaign.max_points_per_reward)
    capped = None
    if cap is not None:
        try:
            capped = wallet_services.wallet_round(wallet=wallet, amount=cap)
        except ValidationError:
            return [None] * count
        capped = capped if capped > 0 else None
    places = Decimal(1).scaleb(-int(wallet.rounding_places))
    return [
        (capped if cap is not None and draw > cap else Decimal(draw).quantize(places) if draw > 0 else None)
        for draw in draws
    ]


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


# --- Rewarding one run chunk ---------------------------------------------------------------
#
# Each reward kind calls its catalogue's bulk service once for the chunk and maps profile id →
# (reason, points, code); the grants and the system events then go in with one statement each
# (`grants.reward_profiles`). The catalogue services are idempotent per (campaign, profile,
# occurrence) and return only what they gave now. A profile they skip already holds its reward
# for the occurrence, which can only come from a transaction that also wrote its grant (so its
# grant insert is absorbed by ON CONFLICT), or is unknown; `_held` looks up what such profiles
# hold, so the record stays right even if that ever changes.


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
        if _random_range_usable(campaign):
            amounts = dict(
                zip(ids, random_points_for_many(campaign, wallet=wallet, count=len(ids), rng=rng), strict=True)
            )
        else:
            amounts = {pid: points_for(campaign, wallet=wallet) for pid in ids}
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


def rewards_give(campaign: Campaign, ids: list[int], occurrence: str, now: datetime.datetime, rng) -> dict[int, tuple]:
    """profile id → (reason, points, code) for one chunk's profiles: one bulk catalogue call."""
    if campaign.reward_type == C.RewardType.POINTS:
        return _reward_points(campaign, ids, occurrence, now, rng)
    if campaign.reward_type == C.RewardType.COUPON:
        return _reward_coupon(campaign, ids, occurrence, now)
    if campaign.reward_type == C.RewardType.VOUCHER:
        return _reward_voucher(campaign, ids, occurrence)
    return dict.fromkeys(ids, (R.INVALID_WALLET, None, ""))


# --- Rewarding live items, one occurrence each ----------------------------------------------------


def points_credit_each(campaign: Campaign, *, credits: list[tuple], now: datetime.datetime) -> None:
    """Credit (profile id, occurrence, points) of a live batch in one statement, with the campaign's lifecycle."""
    activates_at, expires_at = points_lifecycle(campaign, now=now)
    wallet_services.wallet_credit_each(
        wallet=campaign.wallet,
        credits=credits,
        campaign=campaign,
        description=campaign.name[:500],
        activates_at=activates_at,
        expires_at=expires_at,
    )


def codes_give(campaign: Campaign, items: list, now: datetime.datetime) -> dict[str, str]:
    """occurrence → code for the items (each with a profile_id and an occurrence) that hold one
    now: one claim for the whole batch."""
    pairs = [(i.profile_id, i.occurrence) for i in items]
    if campaign.reward_type == C.RewardType.COUPON:
        held = coupon_services.code_assign_each(
            coupon=campaign.coupon,
            items=pairs,
            campaign=campaign,
            redeemable_from=_redeemable_from(campaign, now),
        )
    else:
        held = voucher_services.voucher_assign_each(voucher_list=campaign.voucher_list, items=pairs, campaign=campaign)
    return {occ: held[(pid, occ)] for pid, occ in pairs if (pid, occ) in held}
