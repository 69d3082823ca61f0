"""Write realistic profiles and events fast: set-based SQL on PostgreSQL, bulk_create elsewhere.

On PostgreSQL profiles go in by COPY (their sample bucket is a CRC32 computed here) and events
by one INSERT … SELECT over generate_series per million rows, drawn by PostgreSQL's seeded
random(): 1,000,000 profiles and 10,000,000 events take minutes, not hours. The same seed
gives the same data set (events are drawn relative to "now", so their times move with it).
Events are spread evenly over the period and stored in time order, like real uploads.
"""

import datetime
import json
import random

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from core.db import row_triggers_skippable, row_triggers_skipped
from segments.models import EventDefinition, EventPropertyDefinition, Profile, sample_bucket_for

CITIES = ["Pune", "Mumbai", "Delhi", "Bengaluru", "Chennai", "Kolkata", "Hyderabad", "Jaipur"]
DEVICES = ["Android", "iOS", "Web"]
CATEGORIES = ["Shoes", "Electronics", "Books", "Grocery", "Fashion"]
PAYMENT_MODES = ["UPI", "Card", "COD"]
# name → {property: catalogue type}; what the two-rule benchmark segment and the demo rely on.
EVENT_CATALOGUE = {
    "Product Viewed": {"Category": "string", "Product ID": "string"},
    "Added To Cart": {"Product ID": "string", "Quantity": "number"},
    "Charged": {"Amount": "number", "Payment Mode": "string"},
}
EVENT_CHUNK = 1_000_000

# One chunk of events, set-based. The OFFSET 0 keeps the draws in the inner query (evaluated
# once per row); every draw comes from random() after setseed, so a seed fixes the data set.
# Event i of n happens in the i-th n-th of the period (at a random moment inside it): events
# are stored in the order they happened, as uploads store them, so the table's physical order
# (what "the last 30 days" scans read) is the production one.
_EVENTS_SQL = """
INSERT INTO segments_event (profile_id, name, properties, occurred_at, received_at)
SELECT
    (%(ids)s::bigint[])[1 + floor(g.r_profile * %(n_ids)s)::int],
    CASE WHEN g.r_kind < 0.5 THEN 'Product Viewed' WHEN g.r_kind < 0.8 THEN 'Added To Cart' ELSE 'Charged' END,
    CASE
        WHEN g.r_kind < 0.5 THEN jsonb_build_object(
            'Category', (%(categories)s::text[])[1 + floor(g.r_a * %(n_categories)s)::int],
            'Product ID', 'p' || (1 + floor(g.r_b * 200)::int))
        WHEN g.r_kind < 0.8 THEN jsonb_build_object(
            'Product ID', 'p' || (1 + floor(g.r_b * 200)::int), 'Quantity', 1 + floor(g.r_a * 3)::int)
        ELSE jsonb_build_object(
            'Amount', 50 + floor(g.r_a * 4951)::int,
            'Payment Mode', (%(modes)s::text[])[1 + floor(g.r_b * %(n_modes)s)::int])
    END,
    %(start)s + (g.i + g.r_time) * %(step)s * interval '1 second',
    %(start)s + (g.i + g.r_time) * %(step)s * interval '1 second'
FROM (
    SELECT i, random() AS r_profile, random() AS r_kind, random() AS r_a, random() AS r_b, random() AS r_time
    FROM generate_series(%(first)s, %(last)s) AS i
    OFFSET 0
) AS g
"""


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
            self._copy(rng, seed, now, days, identities, events)
            if events:
                self._catalogue(now)
        self.stdout.write(f"generated {profiles} profiles and {events} events")

    def _profile_row(self, rng, identity, now, days):
        props = {"City": rng.choice(CITIES), "Device": rng.choice(DEVICES), "Age": rng.randint(18, 70)}
        return identity, props, now - datetime.timedelta(days=days), now, sample_bucket_for(identity)

    def _catalogue(self, now):
        for name, properties in EVENT_CATALOGUE.items():
            event, _ = EventDefinition.objects.get_or_create(name=name, defaults={"first_seen": now, "last_seen": now})
            for prop, kind in properties.items():
                EventPropertyDefinition.objects.get_or_create(event=event, name=prop, defaults={"type": kind})

    def _copy(self, rng, seed, now, days, identities, n_events):
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
                # setseed takes a value in [-1, 1]; the inserts below draw from this sequence.
                cursor.execute("SELECT setseed(%s)", [(seed % 2_000_001) / 1_000_000 - 1])
                params = {
                    "ids": ids,
                    "n_ids": len(ids),
                    "categories": CATEGORIES,
                    "n_categories": len(CATEGORIES),
                    "modes": PAYMENT_MODES,
                    "n_modes": len(PAYMENT_MODES),
                    "start": now - datetime.timedelta(days=days),
                    "step": days * 86400 / n_events,
                }
                # Every profile id the events write was inserted by this same transaction
                # (invisible to anyone else until it commits, so nobody can delete it): the
                # per-row checks cannot fail, and at 10,000,000 events they took minutes at COMMIT.
                with row_triggers_skipped(cursor, skip=row_triggers_skippable()):
                    for done in range(0, n_events, EVENT_CHUNK):
                        last = min(done + EVENT_CHUNK, n_events) - 1
                        cursor.execute(_EVENTS_SQL, {**params, "first": done, "last": last})
            cursor.execute("ANALYZE segments_profile")
            cursor.execute("ANALYZE segments_event")
