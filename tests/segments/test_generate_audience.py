import pytest
from django.core.management import call_command

from segments.models import Event, EventDefinition, EventPropertyDefinition, Profile, sample_bucket_for

pytestmark = pytest.mark.django_db


def generate(**options):
    call_command("generate_audience", stdout=open("/dev/null", "w"), **options)  # noqa: SIM115


def drawn_events(prefix: str) -> list[tuple]:
    """The generated events of one run, independent of database ids and of "now"."""
    return sorted(
        (identity[len(prefix) :], name, str(sorted(props.items())))
        for identity, name, props in Event.objects.filter(profile__identity__startswith=prefix).values_list(
            "profile__identity", "name", "properties"
        )
    )


def test_generate_audience_writes_profiles_and_events_with_copy():
    generate(profiles=50, events=400, days=30, seed=3)
    assert Profile.objects.count() == 50
    assert Event.objects.count() == 400
    profile = Profile.objects.first()
    assert profile.sample_bucket == sample_bucket_for(profile.identity)
    assert set(Event.objects.values_list("name", flat=True)) <= {"Product Viewed", "Added To Cart", "Charged"}


def test_generated_events_feed_the_benchmark_segment_and_the_catalogue():
    generate(profiles=100, events=3000, days=90, seed=5)
    charged = list(Event.objects.filter(name="Charged").values_list("properties", flat=True))
    assert charged and all(isinstance(p["Amount"], int) and 50 <= p["Amount"] <= 5000 for p in charged)
    assert any(p["Amount"] > 100 for p in charged)
    assert Event.objects.filter(name="Added To Cart").exists()
    assert EventPropertyDefinition.objects.get(event__name="Charged", name="Amount").type == "number"
    assert set(EventDefinition.objects.values_list("name", flat=True)) == {"Product Viewed", "Added To Cart", "Charged"}


def test_events_are_stored_in_the_order_they_happened_across_the_whole_period():
    generate(profiles=20, events=2000, days=90, seed=4)
    times = list(Event.objects.order_by("id").values_list("occurred_at", flat=True))
    assert times == sorted(times)
    span = times[-1] - times[0]
    assert span.days >= 89


def test_the_same_seed_draws_the_same_data_set_and_another_seed_does_not():
    generate(profiles=40, events=500, days=90, seed=7, prefix="a-")
    generate(profiles=40, events=500, days=90, seed=7, prefix="b-")
    generate(profiles=40, events=500, days=90, seed=8, prefix="c-")
    assert drawn_events("a-") == drawn_events("b-")
    assert drawn_events("a-") != drawn_events("c-")
