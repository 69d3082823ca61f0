import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from segments import selectors, services
from segments.models import Event
from tests.segments.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def test_event_list_filters_by_name_and_date_and_renders_the_partial_for_htmx(marketer_client):
    p = ProfileFactory(identity="u1")
    EventFactory(profile=p, name="Charged", occurred_at=datetime.datetime(2026, 11, 20, 6, tzinfo=datetime.UTC))
    EventFactory(profile=p, name="Login", occurred_at=datetime.datetime(2026, 11, 20, 6, tzinfo=datetime.UTC))
    EventFactory(profile=p, name="Charged", occurred_at=datetime.datetime(2026, 10, 1, 6, tzinfo=datetime.UTC))
    response = marketer_client.get("/audience/events/", {"name": "Charged", "start": "2026-11-20", "end": "2026-11-20"})
    assert response.status_code == 200
    assert len(response.context["events"]) == 1
    response = marketer_client.get("/audience/events/", {"name": "Charged"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert 'id="event-table"' in content
    assert "<html" not in content
    assert content.count("<tr><td>Charged") == 2


def test_event_list_refuses_an_unreadable_date_and_a_backwards_range_in_the_table(marketer_client):
    EventFactory(name="Charged", occurred_at=datetime.datetime(2026, 11, 20, 6, tzinfo=datetime.UTC))
    bad = marketer_client.get("/audience/events/", {"start": "31/12/2026"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 422 and "From: Enter a date like" in bad.content.decode()
    backwards = marketer_client.get("/audience/events/", {"start": "10 Dec 2026", "end": "1 Dec 2026"})
    html = backwards.content.decode()
    assert backwards.status_code == 422 and "To (1 Dec 2026) is before From (10 Dec 2026)." in html


def test_event_list_runs_a_constant_number_of_queries(marketer_client, django_assert_max_num_queries):
    for i in range(30):
        EventFactory(profile=ProfileFactory(identity=f"u{i}"))
    with django_assert_max_num_queries(8):
        assert marketer_client.get("/audience/events/").status_code == 200


def test_events_page_and_profile_page_hide_the_systems_internal_event_properties(marketer_client):
    from promotions.engine import grants
    from segments.models import INTERNAL_EVENT_PROPERTIES

    assert grants.PROP_DEPTH in INTERNAL_EVENT_PROPERTIES  # one name for the chain depth
    profile = ProfileFactory(identity="u1")
    EventFactory(
        profile=profile,
        name="Points Credited",
        properties={"Campaign ID": 7, "Trigger Depth": 1, "Wallet ID": 3, "Points": 100},
    )
    for url in ("/audience/events/", f"/audience/profiles/{profile.pk}/"):
        content = marketer_client.get(url).content.decode()
        for shown in ("Campaign ID: 7", "Wallet ID: 3", "Points: 100"):  # jsonb orders the keys
            assert shown in content, url
        assert "Trigger Depth" not in content, url


def test_segment_list_shows_audience_size(marketer_client):
    segment = services.segment_save(
        name="Buyers",
        description="",
        rule_tree={"op": "and", "rules": [{"type": "did", "event": "Charged"}]},
        actor=None,
    )
    EventFactory(name="Charged")
    services.segment_refresh_size(segment=segment)
    response = marketer_client.get("/audience/segments/")
    assert "Buyers" in response.content.decode()
    assert response.context["segments"][0].audience_size == 1


def test_profile_page_has_the_rewards_region(marketer_client):
    profile = ProfileFactory()
    content = marketer_client.get(profile.get_absolute_url()).content.decode()
    assert 'id="profile-rewards"' in content


def test_rule_builder_estimate_and_exact_count_partials(marketer_client):
    EventFactory(name="Charged")
    rules = '{"op": "and", "rules": [{"type": "did", "event": "Charged"}]}'
    response = marketer_client.post("/audience/rules/estimate/", {"rules": rules}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert 'id="rule-estimate"' in content and "<html" not in content
    assert "≈ 1" in content
    response = marketer_client.post("/audience/rules/count/", {"rules": rules}, HTTP_HX_REQUEST="true")
    assert "exact: <strong>1</strong>" in response.content.decode()


def test_rule_builder_shows_a_clear_error_per_bad_rule(marketer_client):
    response = marketer_client.post("/audience/rules/estimate/", {"rules": '{"op": "and", "rules": [{"type": "did"}]}'})
    assert "Rule 1: choose an event." in response.content.decode()
    response = marketer_client.post("/audience/rules/estimate/", {"rules": "{oops"})
    assert "The rules are not valid JSON." in response.content.decode()


def test_create_a_segment_from_the_builder_and_refuse_bad_rules(marketer_client):
    from segments.models import Segment

    EventFactory(name="Charged")
    bad = marketer_client.post("/audience/segments/new/", {"name": "Buyers", "rules": '{"op": "and", "rules": []}'})
    assert bad.status_code == 422
    assert "Add at least one rule." in bad.content.decode()
    assert not Segment.objects.exists()
    ok = marketer_client.post(
        "/audience/segments/new/",
        {"name": "Buyers", "rules": '{"op": "and", "rules": [{"type": "did", "event": "Charged"}]}'},
    )
    assert ok.status_code == 302
    segment = Segment.objects.get()
    assert segment.audience_size == 1 and segment.audience_computed_at is not None


def test_deleting_a_segment_used_by_another_is_refused(marketer_client):
    from segments.models import Segment

    one = services.segment_save(name="One", description="", rule_tree={"type": "did", "event": "E"}, actor=None)
    services.segment_save(
        name="Two", description="", rule_tree={"type": "in_segment", "segment_id": one.pk}, actor=None
    )
    response = marketer_client.post(f"/audience/segments/{one.pk}/delete/", follow=True)
    assert services.ERR_SEGMENT_IN_USE.format(names="Two") in response.content.decode()
    assert Segment.objects.filter(pk=one.pk).exists()


def test_test_a_profile_explains_rule_by_rule_and_lists_matches(marketer_client):
    EventFactory(name="Charged", profile=ProfileFactory(identity="buyer"))
    ProfileFactory(identity="window-shopper")
    rules = '{"op": "and", "rules": [{"type": "did", "event": "Charged"}]}'
    content = marketer_client.post(
        "/audience/rules/explain/", {"rules": rules, "identity": "window-shopper"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="rule-explain"' in content
    assert "does not match" in content
    assert "0 matching Charged events in the window" in content
    assert ">buyer</a>" in content


def test_event_list_merges_every_name_newest_first_and_pages_without_gaps(marketer_client):
    # "All events" merges the newest events of each name found in the events themselves (no
    # catalogue rows here), ties on the time broken by id, pages of 50 with no gap or repeat.
    base = datetime.datetime(2026, 11, 20, 6, tzinfo=datetime.UTC)
    profile = ProfileFactory(identity="u1")
    names = ["Charged", "Login", "App Launched", "Zebra"]
    made = [
        EventFactory(profile=profile, name=names[i % 4], occurred_at=base - datetime.timedelta(minutes=i // 3))
        for i in range(130)
    ]
    expected = [e.pk for e in sorted(made, key=lambda e: (e.occurred_at, e.pk), reverse=True)]
    seen = []
    for page in (1, 2, 3):
        response = marketer_client.get("/audience/events/", {"page": page})
        seen += [e.pk for e in response.context["events"]]
        assert response.context["has_next"] == (page < 3)
    assert seen == expected
    day = marketer_client.get("/audience/events/", {"start": "2026-11-20", "end": "2026-11-20"}).context["events"]
    assert [e.pk for e in day] == expected[:50]
    login = marketer_client.get("/audience/events/", {"name": "Login", "page": 2}).context["events"]
    assert [e.pk for e in login] == [pk for pk in expected if Event.objects.get(pk=pk).name == "Login"][50:100]


def test_event_list_reads_the_name_time_index_without_sorting_the_events():
    # The plan of "All events" uses event_name_time and never sorts the whole table.
    for i in range(20):
        EventFactory(name=f"E{i % 4}")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        with CaptureQueriesContext(connection) as queries:
            selectors.event_search(offset=0, limit=51)
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "event_name_time" in plan
    assert "Seq Scan on segments_event" not in plan


def test_custom_list_page_says_processing_and_counts_error_rows_in_words(marketer_client):
    """Issue #16: a processing upload had a blank status; the error link said "1 rows"."""
    from segments.models import CustomList, CustomListUpload

    custom_list = CustomList.objects.create(name="VIPs", size=1234)
    CustomListUpload.objects.create(
        custom_list=custom_list,
        file="custom_lists/x.csv",
        status=CustomListUpload.Status.COMPLETED,
        unknown=1,
        error_rows="Row,Identity,Reason\r\n2,ghost,Unknown identity\r\n",
    )
    CustomListUpload.objects.create(
        custom_list=custom_list,
        file="custom_lists/y.csv",
        status=CustomListUpload.Status.IN_PROGRESS,
        total_bytes=100,
        processed_bytes=40,
    )
    html = marketer_client.get(f"/audience/lists/{custom_list.pk}/").content.decode()
    assert "Processing…" in html and "40%" in html
    assert "Download (1 row)" in html and "1 rows" not in html
    assert "1,234 profiles" in html
