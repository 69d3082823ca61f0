import pytest
from django.core.management import call_command

from segments.models import Event, Profile, sample_bucket_for

pytestmark = pytest.mark.django_db


def test_generate_audience_writes_profiles_and_events_with_copy():
    call_command("generate_audience", profiles=50, events=400, days=30, seed=3, stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert Profile.objects.count() == 50
    assert Event.objects.count() == 400
    profile = Profile.objects.first()
    assert profile.sample_bucket == sample_bucket_for(profile.identity)
    assert set(Event.objects.values_list("name", flat=True)) <= {"Product Viewed", "Added To Cart", "Charged"}
