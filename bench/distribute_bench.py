"""distribute_wallet / distribute_codes / naive_ratio_*: one-time campaigns to every profile.

Each campaign is a complete one-time "Send now" campaign on a custom list holding every
profile of the data set, published with `promotions.services.campaign_publish` and driven
to Completed through the engine's own entry points, in-process: the beat job
`runs_dispatch_due` (claims and starts the run) and the task body `run_distribute_chunk`
(one keyset chunk per transaction) until the run reports DONE. The time is publish → Completed.

The wallet campaign uses a custom points lifecycle (active after 1 minute, expiring 1 day
later) so its lots are the 1,000,000 lots lifecycle_jobs sweeps afterwards.

The naive ratios time a per-profile ORM loop over 10,000 profiles (1,000 at 1/10 scale) —
`wallet_credit` / `code_assign` once per profile — and divide its time per profile by the
set-based path's time per profile above.
"""

import time
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from bench.common import Context, Figure, log
from coupons import services as coupon_services
from coupons.models import Coupon
from promotions import distribution
from promotions.models import Campaign, CampaignRun, Grant
from promotions.services import campaign_publish
from segments.models import CustomList, Profile
from wallets import services as wallet_services
from wallets.models import Lot, Source

C = Campaign
NAIVE_PROFILES = 10_000
NAIVE_RATIO_TARGET = 10  # the bench's own bar: the set-based path at least an order of magnitude faster


def marketer() -> User:
    user, _ = User.objects.get_or_create(username="bench-marketer")
    return user


def everyone_list(name: str) -> CustomList:
    """A custom list holding every profile (set-based setup, not timed)."""
    custom_list = CustomList.objects.create(name=name, created_by=marketer())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_customlistmember (custom_list_id, profile_id) SELECT %s, id FROM segments_profile",
            [custom_list.pk],
        )
        custom_list.size = cursor.rowcount
        cursor.execute("ANALYZE segments_customlistmember")
    custom_list.save(update_fields=["size"])
    return custom_list


def one_time_campaign(name: str, custom_list: CustomList, **what) -> Campaign:
    """A complete Draft, as the builder leaves it after its four sections."""
    return Campaign.objects.create(
        name=name,
        created_by=marketer(),
        qualification=C.Qualification.CUSTOM_LIST,
        audience_source=C.AudienceSource.CUSTOM_LIST,
        custom_list=custom_list,
        delivery=C.Delivery.NOW,
        start_complete=True,
        who_complete=True,
        what_complete=True,
        when_complete=True,
        **what,
    )


def publish_and_complete(campaign: Campaign) -> float:
    """Publish, then run the dispatcher and the chunk task body until the campaign completes; seconds."""
    started = time.perf_counter()
    campaign_publish(campaign=campaign, actor=marketer())
    run_ids = distribution.runs_dispatch_due()
    chunks = 0
    for run_id in run_ids:
        while distribution.run_distribute_chunk(run_id=run_id) == distribution.MORE:
            chunks += 1
            if chunks % 20 == 0:
                log(f"  {campaign.name}: {chunks} chunks")
    elapsed = time.perf_counter() - started
    campaign.refresh_from_db()
    if campaign.status != C.Status.COMPLETED:
        raise RuntimeError(f"{campaign.name} ended {campaign.status}, not Completed (runs {run_ids})")
    return elapsed


def check_grants(campaign: Campaign, expected: int) -> str:
    granted = Grant.objects.filter(campaign=campaign, granted=True).count()
    run = CampaignRun.objects.filter(campaign=campaign).get()
    ok = granted == expected == run.granted
    return f"{granted:,} granted of {expected:,} (run counter {run.granted:,}){'' if ok else ' MISMATCH'}"


def distribute_wallet(ctx: Context) -> Figure:
    wallet = wallet_services.wallet_create(actor=marketer(), name="Bench coins", points_name="Coins")
    campaign = one_time_campaign(
        "Bench flat points",
        everyone_list("Bench everyone (points)"),
        reward_type=C.RewardType.POINTS,
        wallet=wallet,
        points_type=C.PointsType.FLAT,
        flat_points=Decimal(100),
        custom_lifecycle=True,
        activation=C.Activation.CUSTOM,
        activation_value=1,
        activation_unit=C.DelayUnit.MINUTES,
        expiry=C.Expiry.CUSTOM,
        expiry_days=1,
    )
    published_at = timezone.now()
    elapsed = publish_and_complete(campaign)
    ctx.per_profile["wallet"] = elapsed / ctx.profiles
    check = check_grants(campaign, ctx.profiles)
    lots = Lot.objects.filter(campaign=campaign).count()
    ctx.lots = (campaign.pk, lots, published_at)
    ctx.note(f"distribute_wallet: {check}; {lots:,} lots")
    return Figure.at_most("distribute_wallet", elapsed, "s", ctx.seconds(30), note=check)


def bulk_coupon(name: str, count: int) -> tuple[Coupon, float]:
    """An Active bulk series with `count` generated codes; seconds spent generating."""
    coupon = coupon_services.coupon_create(data={"kind": Coupon.Kind.BULK, "name": name}, actor=marketer())
    started = time.perf_counter()
    coupon_services.code_generation_start(
        coupon=coupon,
        code_format="alphanumeric",
        length=12,
        prefix="",
        suffix="",
        count=count,
        actor=None,
        run_now=True,
    )
    generated = time.perf_counter() - started
    coupon_services.coupon_transition(coupon=coupon, action="activate", actor=marketer())
    coupon.refresh_from_db()
    return coupon, generated


def distribute_codes(ctx: Context) -> Figure:
    coupon, generated = bulk_coupon("BENCHBULK", ctx.profiles)
    ctx.note(f"code generation (not in distribute_codes): {ctx.profiles:,} codes in {generated:.1f} s")
    campaign = one_time_campaign(
        "Bench bulk codes",
        everyone_list("Bench everyone (codes)"),
        reward_type=C.RewardType.COUPON,
        coupon_kind=C.CouponKind.BULK,
        coupon=coupon,
        redemption_activation=C.Activation.IMMEDIATE,
    )
    elapsed = publish_and_complete(campaign)
    ctx.per_profile["codes"] = elapsed / ctx.profiles
    check = check_grants(campaign, ctx.profiles)
    ctx.note(f"distribute_codes: {check}")
    return Figure.at_most("distribute_codes", elapsed, "s", ctx.seconds(45), note=check)


def naive_profiles(ctx: Context) -> list[Profile]:
    return list(Profile.objects.order_by("id")[: int(NAIVE_PROFILES * ctx.scale)])


def naive_ratio_wallet(ctx: Context) -> Figure:
    wallet = wallet_services.wallet_create(actor=marketer(), name="Bench naive coins", points_name="Coins")
    profiles = naive_profiles(ctx)
    started = time.perf_counter()
    for profile in profiles:
        wallet_services.wallet_credit(
            wallet=wallet,
            profile=profile,
            points=Decimal(100),
            source=Source.CAMPAIGN,
            description="naive loop",
            occurrence="naive",
        )
    per_profile = (time.perf_counter() - started) / len(profiles)
    ratio = per_profile / ctx.per_profile["wallet"]
    ctx.note(
        f"naive wallet_credit loop: {per_profile * 1000:.2f} ms/profile over {len(profiles):,}; "
        f"set-based {ctx.per_profile['wallet'] * 1000:.3f} ms/profile"
    )
    return Figure.at_least("naive_ratio_wallet", ratio, "x", NAIVE_RATIO_TARGET)


def naive_ratio_codes(ctx: Context) -> Figure:
    profiles = naive_profiles(ctx)
    coupon, _ = bulk_coupon("BENCHNAIVE", len(profiles))
    started = time.perf_counter()
    for profile in profiles:
        coupon_services.code_assign(coupon=coupon, profile=profile, campaign=None, occurrence="naive")
    per_profile = (time.perf_counter() - started) / len(profiles)
    ratio = per_profile / ctx.per_profile["codes"]
    ctx.note(
        f"naive code_assign loop: {per_profile * 1000:.2f} ms/profile over {len(profiles):,}; "
        f"set-based {ctx.per_profile['codes'] * 1000:.3f} ms/profile"
    )
    return Figure.at_least("naive_ratio_codes", ratio, "x", NAIVE_RATIO_TARGET)


def run(ctx: Context):
    yield distribute_wallet(ctx)
    yield distribute_codes(ctx)
    yield naive_ratio_wallet(ctx)
    yield naive_ratio_codes(ctx)
