"""Write realistic profiles and events fast: COPY on PostgreSQL, bulk_create elsewhere."""

import datetime
import json
import random

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from segments.models import Event, Profile, sample_bucket_for

CITIES = ["Pune", "Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Hyderabad", "Jaipur"]
DEVICES = ["Android", "iOS", "Web"]
CATEGORIES = ["Shoes", "Electronics", "Books", "Grocery", "Fashion"]


def _event(rng, now, days):
    at = now - datetime.timedelta(seconds=rng.randint(0, days * 86400))
    kind = rng.random()
    if kind < 0.5:
        return "Product Viewed", {"Category": rng.choice(CATEGORIES), "Product ID": f"p{rng.randint(1, 200)}"}, at
    if kind < 0.8:
        return "Added To Cart", {"Product ID": f"p{rng.randint(1, 200)}", "Quantity": rng.randint(1, 3)}, at
    return "Charged", {"Amount": rng.randint(50, 5000), "Payment Mode": rng.choice(["UPI", "Card", "COD"])}, at


class Command(BaseCommand):
    help = "Generate profiles gen-0000001… and random events over the last D days (seeded)."

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=1000)
        parser.add_argument("--events", type=int, default=10000)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--prefix", default="gen-")

    def handle(self, *args, profiles, events, days, seed, prefix, **options):
        rng = random.Random(seed)
        now = timezone.now()
        start_id = Profile.objects.filter(identity__startswith=prefix).count()
        identities = [f"{prefix}{start_id + n:07d}" for n in range(profiles)]
        with transaction.atomic():
            if connection.vendor == "postgresql":
                self._copy(rng, now, days, identities, events)
            else:
                self._bulk(rng, now, days, identities, events)
        self.stdout.write(f"generated {profiles} profiles and {events} events")

    def _profile_row(self, rng, identity, now, days):
        props = {"City": rng.choice(CITIES), "Device": rng.choice(DEVICES), "Age": rng.randint(18, 70)}
        return identity, props, now - datetime.timedelta(days=days), now, sample_bucket_for(identity)

    def _copy(self, rng, now, days, identities, n_events):
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                "COPY segments_profile (identity, properties, first_seen, last_seen, sample_bucket) FROM STDIN"
            ) as copy:
                for identity in identities:
                    i, props, first, last, bucket = self._profile_row(rng, identity, now, days)
                    copy.write_row((i, json.dumps(props), first, last, bucket))
            cursor.execute("SELECT id FROM segments_profile WHERE identity = ANY(%s) ORDER BY id", [identities])
            ids = [row[0] for row in cursor.fetchall()]
            if ids and n_events:
                with raw.copy(
                    "COPY segments_event (profile_id, name, properties, occurred_at, received_at) FROM STDIN"
                ) as copy:
                    for _ in range(n_events):
                        name, props, at = _event(rng, now, days)
                        copy.write_row((rng.choice(ids), name, json.dumps(props), at, at))
            cursor.execute("ANALYZE segments_profile")
            cursor.execute("ANALYZE segments_event")

    def _bulk(self, rng, now, days, identities, n_events):
        created = Profile.objects.bulk_create(
            [
                Profile(identity=i, properties=p, first_seen=f, last_seen=last, sample_bucket=b)
                for i, p, f, last, b in (self._profile_row(rng, identity, now, days) for identity in identities)
            ],
            batch_size=2000,
        )
        ids = [p.pk for p in created] or list(
            Profile.objects.filter(identity__in=identities).values_list("pk", flat=True)
        )
        rows = []
        for _ in range(n_events if ids else 0):
            name, props, at = _event(rng, now, days)
            rows.append(Event(profile_id=rng.choice(ids), name=name, properties=props, occurred_at=at, received_at=at))
        Event.objects.bulk_create(rows, batch_size=2000)
