import datetime

import factory
from django.utils import timezone

from tests.factories import UserFactory
from vouchers.models import Partner, PartnerUser, VoucherList


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Partner {n}")


class PartnerUserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerUser

    user = factory.SubFactory(UserFactory, groups=["Partner"])
    partner = factory.SubFactory(PartnerFactory)


class VoucherListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VoucherList

    partner = factory.SubFactory(PartnerFactory)
    tag = factory.Sequence(lambda n: f"list{n}")
    name = factory.Sequence(lambda n: f"Voucher list {n}")
    expires_on = factory.LazyFunction(lambda: timezone.now().date() + datetime.timedelta(days=30))
