"""System events recorded for every reward given (SPEC 2.1): `Points Credited`, `Coupon Rewarded`,
`Voucher Rewarded`, so other live campaigns can trigger on them.

Properties: Campaign ID, Trigger Depth (1 for a reward caused by a user's own event or a run,
n + 1 for one caused by a system event of depth n), and Wallet ID + Points, Coupon ID + Code or
Voucher List ID + Code. `promotions.live` reads Campaign ID and Trigger Depth to break loops.
"""

from decimal import Decimal

from promotions.models import Campaign
from segments.services import json_number

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
