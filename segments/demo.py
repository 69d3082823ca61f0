"""Demo profiles and events for `make run` (a small, seeded, realistic audience)."""

import datetime
import random

from django.utils import timezone

from segments.models import Event, Profile

CITIES = ["Pune", "Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Hyderabad", "Jaipur"]
DEVICES = ["Android", "iOS", "Web"]
CATEGORIES = ["Shoes", "Electronics", "Books", "Grocery", "Fashion"]
FIRST_NAMES = ["Aarav", "Diya", "Ishaan", "Meera", "Kabir", "Anaya", "Rohan", "Saanvi", "Vihaan", "Zara"]


def load(stdout, *, profiles: int = 500, events_per_profile: int = 12, seed: int = 7) -> None:
    if Profile.objects.filter(identity__startswith="demo-").exists():
        stdout.write("  audience: demo profiles already present")
        return
    rng = random.Random(seed)
    now = timezone.now()
    created = Profile.objects.bulk_create(
        Profile(
            identity=f"demo-{n:04d}",
            properties={
                "Name": f"{rng.choice(FIRST_NAMES)} {chr(65 + n % 26)}.",
                "Email": f"demo{n}@example.com",
                "City": rng.choice(CITIES),
                "Device": rng.choice(DEVICES),
            },
            first_seen=now - datetime.timedelta(days=90),
            last_seen=now - datetime.timedelta(hours=rng.randint(0, 24 * 30)),
        )
        for n in range(profiles)
    )
    events = []
    for profile in created:
        for _ in range(rng.randint(1, events_per_profile * 2)):
            when = now - datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 60))
            kind = rng.random()
            if kind < 0.45:
                name, props = (
                    "Product Viewed",
                    {"Category": rng.choice(CATEGORIES), "Product ID": f"p{rng.randint(1, 40)}"},
                )
            elif kind < 0.75:
                name, props = "Added To Cart", {"Product ID": f"p{rng.randint(1, 40)}", "Quantity": rng.randint(1, 3)}
            else:
                name, props = (
                    "Charged",
                    {"Amount": rng.randint(50, 5000), "Payment Mode": rng.choice(["UPI", "Card", "COD"])},
                )
            events.append(Event(profile=profile, name=name, properties=props, occurred_at=when, received_at=when))
    Event.objects.bulk_create(events, batch_size=2000)
    stdout.write(f"  audience: {len(created)} profiles, {len(events)} events")
