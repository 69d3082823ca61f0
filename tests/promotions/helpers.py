import datetime
import zoneinfo

from django.utils import timezone

from coupons import services as coupon_services
from promotions.models import Campaign
from tests.coupons.factories import BulkCouponFactory
from tests.promotions.factories import CampaignFactory, WalletFactory, custom_list_with, event_definition

KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
HTMX = {"HTTP_HX_REQUEST": "true"}


def local_input(moment: datetime.datetime) -> str:
    """A datetime-local input value in the account timezone (Asia/Kolkata by default)."""
    return moment.astimezone(KOLKATA).strftime("%Y-%m-%dT%H:%M")


def section_url(campaign: Campaign, section: str) -> str:
    return f"/campaigns/{campaign.pk}/edit/{section}/"


def post_section(client, campaign, section, data, *, htmx=True, refresh=False):
    url = section_url(campaign, section) + ("?refresh=1" if refresh else "")
    return client.post(url, data, **(HTMX if htmx else {}))


def campaign_past(*, user=None, members=3, **overrides) -> Campaign:
    """A complete past-behaviour campaign on a custom list: flat points, send now."""
    values = {
        "name": "Diwali bonus",
        "qualification": Campaign.Qualification.CUSTOM_LIST,
        "audience_source": Campaign.AudienceSource.CUSTOM_LIST,
        "custom_list": custom_list_with(members),
        "reward_type": Campaign.RewardType.POINTS,
        "wallet": WalletFactory(name="Supercoins"),
        "points_type": Campaign.PointsType.FLAT,
        "flat_points": 100,
        "delivery": Campaign.Delivery.NOW,
        "who_complete": True,
        "what_complete": True,
        "when_complete": True,
        "created_by": user,
    }
    values.update(overrides)
    return CampaignFactory(**values)


def campaign_live(*, user=None, **overrides) -> Campaign:
    """A complete live user-action campaign: one Charged trigger, flat points, starting now."""
    event_definition("Charged", Amount="number", **{"Payment Mode": "string"})
    values = {
        "name": "Cashback",
        "qualification": Campaign.Qualification.LIVE_ACTION,
        "triggers": [{"event": "Charged", "filters": []}],
        "reward_type": Campaign.RewardType.POINTS,
        "wallet": WalletFactory(name="Supercoins"),
        "points_type": Campaign.PointsType.FLAT,
        "flat_points": 10,
        "live_start": Campaign.LiveStart.NOW,
        "live_end": Campaign.LiveEnd.NEVER,
        "who_complete": True,
        "what_complete": True,
        "when_complete": True,
        "created_by": user,
    }
    values.update(overrides)
    return CampaignFactory(**values)


def in_future(**delta) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(**delta)


def bulk_coupon(codes: int):
    """An active bulk series "Diwali" with `codes` generated codes (D-xxxxxxxx)."""
    coupon = BulkCouponFactory(name="Diwali")
    coupon_services.code_generation_start(
        coupon=coupon,
        code_format="alphanumeric",
        length=8,
        prefix="D-",
        suffix="",
        count=codes,
        actor=None,
        run_now=True,
    )
    coupon.refresh_from_db()
    return coupon
