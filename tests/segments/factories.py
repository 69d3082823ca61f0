import factory
from django.utils import timezone

from segments.models import Event, Profile


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile

    identity = factory.Sequence(lambda n: f"user-{n}")
    properties = factory.LazyFunction(lambda: {"City": "Pune"})


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    profile = factory.SubFactory(ProfileFactory)
    name = "Charged"
    properties = factory.LazyFunction(lambda: {"Amount": 250})
    occurred_at = factory.LazyFunction(timezone.now)
