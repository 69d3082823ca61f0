import factory

from coupons.models import Coupon
from promotions.models import Campaign
from segments.models import CustomList, CustomListMember, EventDefinition, EventPropertyDefinition, Segment
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import PartnerFactory
from vouchers.models import VoucherList
from wallets.models import Wallet


class WalletFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Wallet
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Wallet {n}")
    points_name = "Supercoins"


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    name = factory.Sequence(lambda n: f"Coupon {n}")
    kind = Coupon.Kind.BULK
    status = Coupon.Status.ACTIVE
    # The builder only offers series with codes left (coupons.selectors.coupon_available).
    codes_total = 100


class VoucherListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VoucherList

    partner = factory.SubFactory(PartnerFactory)
    tag = factory.Sequence(lambda n: f"list{n}")
    name = factory.Sequence(lambda n: f"Voucher list {n}")


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    rules = factory.LazyFunction(lambda: {"op": "and", "rules": []})


class CustomListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomList

    name = factory.Sequence(lambda n: f"List {n}")


def custom_list_with(members: int) -> CustomList:
    custom_list = CustomListFactory(size=members)
    for _ in range(members):
        CustomListMember.objects.create(custom_list=custom_list, profile=ProfileFactory())
    return custom_list


def event_definition(name: str, **properties: str) -> EventDefinition:
    event, _ = EventDefinition.objects.get_or_create(name=name)
    for prop, kind in properties.items():
        EventPropertyDefinition.objects.get_or_create(event=event, name=prop, defaults={"type": kind})
    return event


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    start_complete = True
