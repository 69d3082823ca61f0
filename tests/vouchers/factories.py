import factory

from tests.factories import UserFactory
from vouchers.models import Partner, PartnerUser


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
