"""Audience → Profiles and the admin's event list at scale (issue #18): no COUNT(*) of a big
table per view ("about N" from the planner's estimate), an index for the profile order, and the
pagination still reaching every row and the last page; filters and search still work."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core import pagination
from segments import views
from segments.models import EventDefinition, Profile
from tests.segments.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db

NEXT = re.compile(r'href="\?page=(\d+)">Next')
IDENTITY = re.compile(r'<td><a href="/audience/profiles/\d+/">([^<]+)</a></td>')


@pytest.fixture
def estimates_from_one_row(monkeypatch):
    """Estimate every result: the tests' tables are small, the pages' tables are not."""
    monkeypatch.setattr(pagination.EstimatedPaginator, "exact_below", 1)
    monkeypatch.setattr(views, "PAGE_SIZE", 10)


def profiles_seen(n: int, start: int = 0) -> list[str]:
    now = timezone.now()
    return [
        ProfileFactory(identity=f"u{i:03d}", last_seen=now - datetime.timedelta(minutes=i)).identity
        for i in range(start, start + n)
    ]


def crawl(client) -> tuple[list[str], list[str]]:
    """Every identity listed, following Next from the first page; and each page's "Page … of …"."""
    seen, labels, page = [], [], "1"
    while page:
        html = client.get("/audience/profiles/", {"page": page}).content.decode()
        seen += IDENTITY.findall(html)
        labels.append(re.search(r'class="current">([^<]+)<', html).group(1))
        match = NEXT.search(html)
        page = match.group(1) if match else None
    return seen, labels


def test_the_profile_list_reaches_every_profile_and_the_last_page_from_an_estimate(
    marketer_client, estimates_from_one_row
):
    identities = profiles_seen(30)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE segments_profile")
    identities += profiles_seen(15, start=30)  # arrived after the statistics: the estimate is low
    with CaptureQueriesContext(connection) as queries:
        seen, labels = crawl(marketer_client)
    assert seen == identities  # most recently seen first, each once, none lost to the estimate
    assert labels[0].startswith("Page 1 of about ")
    assert labels[-1] == "Page 5 of 5"  # the last page knows the exact total
    assert not [q for q in queries if "COUNT(" in q["sql"].upper() and "segments_profile" in q["sql"]]


def test_a_page_past_the_end_shows_the_real_last_page(marketer_client, estimates_from_one_row):
    identities = profiles_seen(25)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE segments_profile")
    Profile.objects.filter(identity__in=identities[5:]).delete()  # the estimate is now far too high
    html = marketer_client.get("/audience/profiles/", {"page": 3}).content.decode()
    assert IDENTITY.findall(html) == identities[:5]
    html = marketer_client.get("/audience/profiles/", {"page": "x"}).content.decode()
    assert IDENTITY.findall(html) == identities[:5]


def test_small_results_and_searches_are_still_counted_exactly(marketer_client):
    profiles_seen(3)
    ProfileFactory(identity="alice")
    html = marketer_client.get("/audience/profiles/", {"q": "u00"}).content.decode()
    assert IDENTITY.findall(html) == ["u000", "u001", "u002"] and "about" not in html
    assert pagination.EstimatedPaginator(Profile.objects.order_by("pk"), 2).count == 4


def test_the_profile_order_is_read_from_an_index():
    profiles_seen(3)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask the planner what it can use
        cursor.execute("EXPLAIN SELECT * FROM segments_profile ORDER BY last_seen DESC, id ASC LIMIT 51")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "profile_last_seen" in plan and "Sort" not in plan


def test_the_admin_event_list_filters_by_catalogued_name_and_searches_exact_keys(admin_client_, monkeypatch):
    monkeypatch.setattr(pagination.EstimatedPaginator, "exact_below", 1)
    alice, bob = ProfileFactory(identity="alice"), ProfileFactory(identity="bob")
    for name in ("Charged", "Login"):
        EventDefinition.objects.create(name=name)
    first = EventFactory(profile=alice, name="Charged")
    EventFactory(profile=bob, name="Login")
    last = EventFactory(profile=bob, name="Charged")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE segments_event")
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_.get("/admin/segments/event/")
    assert [e.pk for e in response.context["cl"].result_list][:2] == [last.pk, last.pk - 1]  # newest first
    html = response.content.decode()
    assert 'href="?name=Charged"' in html and 'href="?name=Login"' in html  # from the catalogue
    sql = " ".join(q["sql"].upper() for q in queries)
    assert "DISTINCT" not in sql and "COUNT(" not in sql
    charged = admin_client_.get("/admin/segments/event/", {"name": "Charged"}).context["cl"].result_list
    assert [e.pk for e in charged] == [last.pk, first.pk]
    by_identity = admin_client_.get("/admin/segments/event/", {"q": "bob"}).context["cl"].result_list
    assert {e.profile.identity for e in by_identity} == {"bob"} and len(by_identity) == 2
    by_name = admin_client_.get("/admin/segments/event/", {"q": "Login"}).context["cl"].result_list
    assert [e.name for e in by_name] == ["Login"]
