"""Demo profiles and events for `make run` (a small, seeded, realistic audience)."""

import random

from django.utils import timezone

from segments import services
from segments.models import Profile

CITIES = ["Pune", "Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Hyderabad", "Jaipur"]
DEVICES = ["Android", "iOS", "Web"]
CATEGORIES = ["Shoes", "Electronics", "Books", "Grocery", "Fashion"]
FIRST_NAMES = ["Aarav", "Diya", "Ishaan", "Meera", "Kabir", "Anaya", "Rohan", "Saanvi", "Vihaan", "Zara"]


def load(stdout, *, profiles: int = 500, events_per_profile: int = 12, seed: int = 7) -> None:
    """Send the demo audience through the upload API's service (`services.upload_records`), so the
    profiles, events and the event and property catalogues are exactly what an app's uploads make."""
    if Profile.objects.filter(identity__startswith="demo-").exists():
        stdout.write("  audience: demo profiles already present")
        return
    rng = random.Random(seed)
    now = timezone.now()
    epoch = int(now.timestamp())
    records = []
    for n in range(profiles):
        identity = f"demo-{n:04d}"
        records.append(
            {
                "type": "profile",
                "identity": identity,
                "ts": epoch - 90 * 24 * 3600,
                "profileData": {
                    "Name": f"{rng.choice(FIRST_NAMES)} {chr(65 + n % 26)}.",
                    "Email": f"demo{n}@example.com",
                    "City": rng.choice(CITIES),
                    "Device": rng.choice(DEVICES),
                },
            }
        )
        for _ in range(rng.randint(1, events_per_profile * 2)):
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
            ts = epoch - rng.randint(0, 60 * 24 * 60) * 60
            records.append({"type": "event", "identity": identity, "ts": ts, "evtName": name, "evtData": props})
    events = 0
    for start in range(0, len(records), services.MAX_RECORDS):
        batch = records[start : start + services.MAX_RECORDS]  # as an app sends them
        result = services.upload_records(records=batch, now=now)
        if result.unprocessed:  # the demo's own records: a refusal is a bug here, not bad input
            raise RuntimeError(f"Demo upload refused records: {result.unprocessed[:3]}")
        events += len(result.event_ids)
    stdout.write(f"  audience: {profiles} profiles, {events} events (through the upload API's service)")
