"""System events recorded for every reward given (SPEC 2.1): `Points Credited`, `Coupon Rewarded`,
`Voucher Rewarded`, so other live campaigns can trigger on them.

Properties: Campaign ID, Trigger Depth (1 for a reward caused by a user's own event or a run,
n + 1 for one caused by a system event of depth n), and Wallet ID + Points, Coupon ID + Code or
Voucher List ID + Code. `promotions.live` reads Campaign ID and Trigger Depth to break loops.
"""

from decimal import Decimal

from promotions.models import Campaign

POINTS_CREDITED, COUPON_REWARDED, VOUCHER_REWARDED = "Points Credited", "Coupon Rewarded", "Voucher Rewarded"
NAMES = (POINTS_CREDITED, COUPON_REWARDED, VOUCHER_REWARDED)
PROP_CAMPAIGN, PROP_DEPTH = "Campaign ID", "Trigger Depth"


def _json_number(amount: Decimal):
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def system_event(campaign: Campaign, *, profile_id: int, points=None, code: str = "", depth: int = 1):
    """(profile id, event name, properties) of the system event for one reward given."""
    props = {PROP_CAMPAIGN: campaign.pk, PROP_DEPTH: depth}
    if campaign.reward_type == Campaign.RewardType.POINTS:
        props.update({"Wallet ID": campaign.wallet_id, "Points": _json_number(Decimal(points))})
        return profile_id, POINTS_CREDITED, props
    if campaign.reward_type == Campaign.RewardType.COUPON:
        props.update({"Coupon ID": campaign.coupon_id, "Code": code})
        return profile_id, COUPON_REWARDED, props
    props.update({"Voucher List ID": campaign.voucher_list_id, "Code": code})
    return profile_id, VOUCHER_REWARDED, props
