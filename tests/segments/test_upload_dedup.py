"""Re-sent events are stored once (SPEC 6.2, 7; issue 15): by `evtId` when sent, else by
(identity, evtName, ts, evtData) when `ts` is sent; an event without either is always new."""

import time

import pytest

from promotions import tasks
from segments import services
from segments.models import Event
from tests.promotions.live_support import grants, running_live

pytestmark = pytest.mark.django_db
URL = "/api/1/upload"


def post(client, records):
    response = client.post(URL, {"d": records}, content_type="application/json")
    assert response.status_code == 200
    return response.json()


def charged(identity="u1", ts=None, **extra):
    record = {"type": "event", "identity": identity, "evtName": "Charged", "evtData": {"Amount": 250, "Mode": "upi"}}
    if ts is not None:
        record["ts"] = ts
    record.update(extra)
    return record


def test_the_same_event_posted_three_times_is_stored_once_and_rewarded_once(api_client):
    campaign = running_live()
    ts = int(time.time()) - 60
    answers = [post(api_client, [charged(ts=ts)]) for _ in range(3)]

    assert answers == [{"status": "success", "processed": 1, "unprocessed": []}] * 3  # acknowledged each time
    assert Event.objects.count() == 1
    tasks.live_events()  # what the woken task does on a worker
    assert [g.occurrence for g in grants(campaign, granted=True)] == [f"event:{Event.objects.get(name='Charged').pk}"]


def test_what_makes_two_records_the_same_event(api_client):
    ts = 1_700_000_000
    post(api_client, [charged(ts=ts), charged(ts=ts, evtData={"Mode": "upi", "Amount": 250})])  # key order
    assert Event.objects.count() == 1
    post(api_client, [charged(ts=ts + 1), charged("u2", ts=ts), charged(ts=ts, evtData={"Amount": 251})])
    assert Event.objects.count() == 4  # another time, identity or property is another event
    post(api_client, [charged(), charged()])
    assert Event.objects.count() == 6  # no ts: the server's time, never de-duplicated by content


def test_evt_id_wins_over_the_content(api_client):
    post(api_client, [charged(ts=1_700_000_000, evtId="ord-1")])
    post(api_client, [charged(ts=1_700_000_500, evtId="ord-1", evtData={"Amount": 1})])  # same id, new content
    post(api_client, [charged(evtId="ord-1")])  # and without ts
    assert Event.objects.count() == 1
    post(api_client, [charged("u2", evtId="ord-1"), charged(ts=1_700_000_000, evtId=2)])
    assert Event.objects.count() == 3  # evtId is per identity; an integer id works too


def test_a_repeat_inside_one_batch_is_stored_once():
    records = [charged(ts=1_700_000_000)] * 3 + [charged(ts=1_700_000_000, evtId="x")] * 2
    result = services.upload_records(records=records)
    assert (result.processed, len(result.event_ids), Event.objects.count()) == (5, 2, 2)


def test_content_keys_follow_time_so_the_index_grows_at_its_right_edge():
    early = services.event_dedup_key(identity="u1", name="Charged", ts=1_700_000_000, data={}, event_id=None)
    later = services.event_dedup_key(identity="u0", name="Charged", ts=1_700_000_001, data={}, event_id=None)
    by_id = services.event_dedup_key(identity="u1", name="Charged", ts=None, data={}, event_id="1")
    assert early.bytes < later.bytes < by_id.bytes
    assert services.event_dedup_key(identity="u1", name="Charged", ts=None, data={}, event_id=None) is None
