"""POST /api/1/upload (SPEC 2.2): whole-request errors, per-record codes, storage, catalogue."""

import datetime
import json
from unittest import mock

import pytest

from segments import api, services
from segments.models import Event, EventDefinition, EventPropertyDefinition, Profile, ProfilePropertyDefinition
from tests.segments.factories import ProfileFactory

pytestmark = pytest.mark.django_db

URL = "/api/1/upload"
TS = 1_700_000_000


def post(client, body, **extra):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **extra)


def event(identity="u1", name="Charged", ts=TS, **data):
    return {"type": "event", "identity": identity, "ts": ts, "evtName": name, "evtData": data or {"Amount": 250}}


def test_upload_stores_events_and_creates_unknown_profiles(api_client):
    response = post(api_client, {"d": [event("u1"), event("u2", "Product Viewed", Category="Shoes")]})
    assert response.status_code == 200
    assert response.json() == {"status": "success", "processed": 2, "unprocessed": []}
    assert set(Profile.objects.values_list("identity", flat=True)) == {"u1", "u2"}
    charged = Event.objects.get(name="Charged")
    assert charged.profile.identity == "u1"
    assert charged.properties == {"Amount": 250}
    assert charged.occurred_at == datetime.datetime.fromtimestamp(TS, tz=datetime.UTC)


def test_profile_records_merge_into_existing_properties(api_client):
    ProfileFactory(identity="u1", properties={"City": "Pune", "Name": "Asha"})
    response = post(
        api_client,
        {
            "d": [
                {"type": "profile", "identity": "u1", "ts": TS, "profileData": {"City": "Mumbai"}},
                {"type": "profile", "identity": "u1", "ts": TS + 5, "profileData": {"Device": "iOS"}},
            ]
        },
    )
    assert response.json()["status"] == "success"
    profile = Profile.objects.get(identity="u1")
    assert profile.properties == {"City": "Mumbai", "Name": "Asha", "Device": "iOS"}


def test_missing_ts_means_now_and_last_seen_moves_forward(api_client):
    profile = ProfileFactory(identity="u1")
    post(api_client, {"d": [{"type": "event", "identity": "u1", "evtName": "Login"}]})
    profile.refresh_from_db()
    stored = Event.objects.get()
    assert abs((stored.occurred_at - stored.received_at).total_seconds()) < 1
    assert profile.last_seen >= stored.occurred_at


def test_new_profile_gets_its_sample_bucket(api_client):
    post(api_client, {"d": [event("someone@example.com")]})
    from segments.models import sample_bucket_for

    assert Profile.objects.get().sample_bucket == sample_bucket_for("someone@example.com")


BAD_RECORDS = [
    ({"type": "event", "identity": "u1", "ts": TS}, 509, services.ERR_EVENT_NAME),
    ({"type": "event", "identity": "u1", "evtName": ""}, 509, services.ERR_EVENT_NAME),
    ({"type": "event", "identity": "u1", "evtName": 5}, 512, services.ERR_EVENT_NAME_TYPE),
    ({"type": "event", "identity": "u1", "evtName": "E", "evtData": [1]}, 512, services.ERR_EVT_DATA),
    ({"type": "event", "identity": "u1", "evtName": "E", "evtData": {"a": {"b": 1}}}, 512, None),
    ({"type": "profile", "identity": "u1", "profileData": "x"}, 512, services.ERR_PROFILE_DATA),
    ("not an object", 512, services.ERR_NOT_OBJECT),
    (
        {"type": "event", "identity": "u1", "evtName": "E", "evtData": {f"k{i}": i for i in range(257)}},
        522,
        services.ERR_TOO_MANY,
    ),
    ({"type": "event", "evtName": "E"}, 523, services.ERR_IDENTITY),
    ({"type": "event", "identity": "  ", "evtName": "E"}, 523, services.ERR_IDENTITY),
    ({"type": "profile", "identity": None, "profileData": {}}, 523, services.ERR_IDENTITY),
    ({"type": "page", "identity": "u1"}, 524, services.ERR_TYPE),
    ({"identity": "u1", "evtName": "E"}, 524, services.ERR_TYPE),
    ({"type": "event", "identity": "u1", "evtName": "E", "ts": "yesterday"}, 525, services.ERR_TS),
    ({"type": "event", "identity": "u1", "evtName": "E", "ts": 1_700_000_000_000}, 525, services.ERR_TS),
    ({"type": "event", "identity": "u1", "evtName": "E", "ts": 17e8}, 525, services.ERR_TS),
    ({"type": "event", "identity": "u1", "evtName": "E", "ts": True}, 525, services.ERR_TS),
    ({"type": "event", "identity": "u1", "evtName": "E", "evtData": {"k" * 121: 1}}, 526, None),
    ({"type": "event", "identity": "u1", "evtName": "E", "evtData": {"k": "é" * 257}}, 526, None),
    ({"type": "profile", "identity": "u1", "profileData": {"Bio": "x" * 513}}, 526, None),
    ({"type": "event", "identity": "x" * 257, "evtName": "E"}, 526, services.ERR_IDENTITY_TOO_LONG),
    ({"type": "event", "identity": "u1", "evtName": "E" * 121}, 526, services.ERR_EVENT_NAME_TOO_LONG),
]


@pytest.mark.parametrize(("record", "code", "message"), BAD_RECORDS)
def test_each_bad_record_gets_its_code_and_nothing_of_it_is_stored(api_client, record, code, message):
    response = post(api_client, {"d": [event("good"), record]})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial"
    assert body["processed"] == 1
    assert len(body["unprocessed"]) == 1
    entry = body["unprocessed"][0]
    assert entry["index"] == 1
    assert entry["code"] == code
    if message:
        assert entry["error"] == message
    # Only the good record was stored: no profile for u1, one event.
    assert list(Profile.objects.values_list("identity", flat=True)) == ["good"]
    assert Event.objects.count() == 1


def test_a_batch_of_only_bad_records_fails_and_stores_nothing(api_client):
    response = post(api_client, {"d": [{"type": "event"}, {"type": "x"}]})
    assert response.json() == {
        "status": "fail",
        "processed": 0,
        "unprocessed": [
            {"index": 0, "code": 523, "error": services.ERR_IDENTITY},
            {"index": 1, "code": 524, "error": services.ERR_TYPE},
        ],
    }
    assert not Profile.objects.exists()


def test_a_property_at_the_limits_is_accepted(api_client):
    record = event(**{"k" * 120: "v" * 512, **{f"p{i}": i for i in range(255)}})
    assert post(api_client, {"d": [record]}).json()["status"] == "success"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{not json", 400, api.ERR_MALFORMED),
        (b"\xff\xfe", 400, api.ERR_MALFORMED),
        ("[1, 2]", 400, api.ERR_NO_D),
        ('{"records": []}', 400, api.ERR_NO_D),
        ('{"d": {"type": "event"}}', 400, api.ERR_NO_D),
    ],
)
def test_malformed_bodies_are_400(api_client, body, status, error):
    response = post(api_client, body)
    assert response.status_code == status
    assert response.json() == {"status": "fail", "code": status, "error": error}


def test_more_than_1000_records_is_413_and_stores_nothing(api_client):
    response = post(api_client, {"d": [event(f"u{i}") for i in range(1001)]})
    assert response.status_code == 413
    assert response.json()["error"] == api.ERR_TOO_MANY_RECORDS
    assert not Event.objects.exists()


def test_a_body_over_5_mb_is_413(api_client):
    body = json.dumps({"d": [event(pad="x" * 500) for _ in range(11_000)]})
    assert len(body) > 5 * 1024 * 1024
    response = post(api_client, body)
    assert response.status_code == 413
    assert response.json()["error"] == api.ERR_BODY_TOO_LARGE


def test_no_credentials_is_401(client):
    response = post(client, {"d": [event()]})
    assert response.status_code == 401
    assert not Event.objects.exists()


def test_get_is_405(api_client):
    assert api_client.get(URL).status_code == 405


def test_empty_batch_is_a_success_with_nothing_processed(api_client):
    assert post(api_client, {"d": []}).json() == {"status": "success", "processed": 0, "unprocessed": []}


@pytest.mark.parametrize("size", [10, 1000])
def test_a_batch_is_stored_with_a_bounded_number_of_queries(api_client, django_assert_max_num_queries, size):
    ProfileFactory(identity="u3", properties={"City": "Pune"})
    records = [event(f"u{i % 50}", "Charged", Amount=i, Mode="UPI") for i in range(size - 1)]
    records.append({"type": "profile", "identity": "u3", "profileData": {"Tier": "Gold"}})
    # The same bound for 10 and 1,000 records (3 of them switch the events' per-row FK triggers
    # off and on again: core/db.py).
    with django_assert_max_num_queries(13):
        response = post(api_client, {"d": records})
    assert response.json()["processed"] == size
    assert Event.objects.count() == size - 1


def test_catalogue_learns_event_names_properties_and_types(api_client):
    post(
        api_client,
        {
            "d": [
                event("u1", "Charged", Amount=250, Mode="UPI", Gift=True, Day="2026-11-01"),
                event("u2", "Charged", Amount="oops", Coupon=None),
                {"type": "profile", "identity": "u1", "profileData": {"Age": 31, "City": "Pune"}},
            ]
        },
    )
    charged = EventDefinition.objects.get(name="Charged")
    types = dict(EventPropertyDefinition.objects.filter(event=charged).values_list("name", "type"))
    # The first type seen wins; a null says nothing about the type.
    assert types == {"Amount": "number", "Mode": "string", "Gift": "boolean", "Day": "date"}
    assert dict(ProfilePropertyDefinition.objects.values_list("name", "type")) == {"Age": "number", "City": "string"}
    from segments import selectors

    assert selectors.event_names() == ["Charged"]
    assert selectors.event_numeric_properties(event_name="Charged") == ["Amount"]


def test_stored_events_are_handed_to_live_matching_after_commit(api_client, django_capture_on_commit_callbacks):
    with mock.patch("segments.live.events_stored") as hook, django_capture_on_commit_callbacks(execute=True):
        post(api_client, {"d": [event("u1"), {"type": "x"}, event("u2")]})
    ids = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    hook.assert_called_once_with(event_ids=ids)


def test_live_hook_is_not_called_for_a_batch_without_events(api_client, django_capture_on_commit_callbacks):
    with mock.patch("segments.live.events_stored") as hook, django_capture_on_commit_callbacks(execute=True):
        post(api_client, {"d": [{"type": "profile", "identity": "u1", "profileData": {"City": "Pune"}}]})
    hook.assert_not_called()


def test_live_hook_records_the_batch_for_matching():
    from django.db import transaction

    from accounts.models import Outbox
    from segments import live

    with transaction.atomic():
        live.events_stored(event_ids=[1, 2])
        live.events_stored(event_ids=[])
    assert list(Outbox.objects.values_list("topic", "payload")) == [("promotions.live_events", {"event_ids": [1, 2]})]


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_the_same_identities_both_store(api_key):
    import base64
    import threading

    from django.db import connection
    from django.test import Client

    key, secret = api_key
    token = "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    results = []

    def send(offset):
        try:
            client = Client(HTTP_AUTHORIZATION=token)
            records = [event(f"u{(i + offset) % 20}", Amount=offset * 1000 + i) for i in range(100)]
            records += [{"type": "profile", "identity": f"u{i}", "profileData": {f"k{offset}": i}} for i in range(20)]
            results.append(post(client, {"d": records}).json()["status"])
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n * 7,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["success"] * 4
    assert Event.objects.count() == 400
    assert Profile.objects.count() == 20
    assert all(len(p.properties) == 4 for p in Profile.objects.all())


def test_system_events_built_in_the_database_carry_the_same_properties_as_one_by_one():
    """A run's chunk records its system events from arrays (segments.services.system_events_record_columns):
    the properties are those `promotions.engine.grants.system_event` gives, numbers without trailing zeros."""
    from decimal import Decimal

    from django.utils import timezone

    from promotions.engine.grants import system_event, system_event_shape
    from promotions.models import Campaign
    from segments.services import system_events_record_columns
    from tests.wallets.factories import WalletFactory

    campaign = Campaign.objects.create(name="Run", reward_type=Campaign.RewardType.POINTS, wallet=WalletFactory())
    a, b = ProfileFactory(), ProfileFactory()
    name, common, varying = system_event_shape(campaign)
    points = [Decimal("100.000"), Decimal("2.500")]
    ids = system_events_record_columns(
        name=name, profile_ids=[a.pk, b.pk], common=common, varying={varying: points}, now=timezone.now()
    )
    stored = {e.profile_id: (e.name, e.properties) for e in Event.objects.filter(pk__in=ids)}
    for profile, amount in zip((a, b), points, strict=True):
        _, expected_name, expected = system_event(campaign, profile_id=profile.pk, points=amount)
        assert stored[profile.pk] == (expected_name, expected)
    assert stored[a.pk][1]["Points"] == 100 and stored[b.pk][1]["Points"] == 2.5
    # The catalogue learns the event with numeric properties, so the builder can filter on Points.
    types = dict(EventPropertyDefinition.objects.filter(event__name="Points Credited").values_list("name", "type"))
    assert types == {"Campaign ID": "number", "Trigger Depth": "number", "Wallet ID": "number", "Points": "number"}
