"""Nothing lost, nothing paid twice at the edges (issue 15), with real processes and real
concurrent transactions:

- the broker unreachable (a closed port) during uploads: every request answers 200 with its batch
  stored, a re-sent batch is stored once, and once the broker is back a real worker gives the live
  rewards, once each;
- the web process killed between the commit and the wake-up: the batch's matching was committed
  with it (the outbox row) and the sweep gets it done;
- the same event re-sent concurrently by several clients is stored once and rewarded once;
- `Idempotency-Key` on the upload API: the first response again, 422 for another body, 409 in flight.
"""

import base64
import datetime
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accounts import outbox
from accounts.models import Outbox
from config.celery import app as celery_app
from promotions import tasks
from segments.models import Event
from tests import harness
from tests.promotions.live_support import grants, running_live

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD = "/api/1/upload"


def recent_ts(offset: int = 0) -> int:
    """An event time inside the running live campaign's window (it started an hour ago)."""
    return int(time.time()) - 600 + offset


def event(identity: str, ts: int | None, **extra) -> dict:
    record = {"type": "event", "identity": identity, "evtName": "Charged", "evtData": {"Amount": 250}, **extra}
    if ts is not None:
        record["ts"] = ts
    return record


def api_client(api_key) -> Client:
    key, secret = api_key
    token = base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {token}", raise_request_exception=False)


def post(client, body, **headers):
    return client.post(UPLOAD, data=json.dumps(body), content_type="application/json", **headers)


def closed_port_url() -> str:
    """A Redis URL on a port nothing listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def owed_event_ids() -> set[int]:
    rows = Outbox.objects.filter(topic=outbox.TOPIC_LIVE_EVENTS).values_list("payload", flat=True)
    return {i for payload in rows for i in payload["event_ids"]}


def user_events():
    return Event.objects.filter(name="Charged")


@pytest.mark.worker
def test_with_the_broker_unreachable_uploads_answer_200_and_live_rewards_arrive_once_it_is_back(
    api_key, settings, caplog
):
    campaign = running_live()
    client = api_client(api_key)
    batches = [[event(f"app{b}-u{i}", recent_ts(i)) for i in range(5)] for b in range(4)]

    with harness.broker_at(closed_port_url()):
        started = time.monotonic()
        responses = [post(client, {"d": batch}) for batch in batches]
        # The app re-sends its first batch, as it would after a timeout.
        resent = post(client, {"d": batches[0]})
        elapsed = time.monotonic() - started

    for response in [*responses, resent]:
        assert response.status_code == 200, response.content[:200]
        assert response.json() == {"status": "success", "processed": 5, "unprocessed": []}
    assert elapsed < 5, f"a broker outage held 5 requests for {elapsed:.1f} s"
    refused = [r for r in caplog.records if "Outbox wake-up for promotions.live_events not sent" in r.getMessage()]
    assert len(refused) == 4  # each stored batch tried its wake-up, and the broker refused it
    assert user_events().count() == 20  # stored once, the re-sent batch included
    assert owed_event_ids() == set(user_events().values_list("pk", flat=True))
    assert grants(campaign) == []  # nothing matched while the broker was down

    # The broker is back: the outbox sweep (beat, every 30 s) wakes the live matcher on a real worker.
    settings.OUTBOX_GRACE_SECONDS = 0
    broker = harness.redis_url()
    harness.purge_redis(broker)
    with harness.broker_at(broker), harness.celery_process("worker", name="-outbox"):
        assert outbox.outbox_sweep() == [outbox.TOPIC_LIVE_EVENTS]
        harness.wait_for(
            lambda: len(grants(campaign, granted=True)) == 20, timeout=60, what="the live rewards after the outage"
        )
        harness.wait_for(lambda: not owed_event_ids() & set(user_events().values_list("pk", flat=True)))
    rewarded = [g.occurrence for g in grants(campaign)]
    assert sorted(rewarded) == sorted(f"event:{pk}" for pk in user_events().values_list("pk", flat=True))
    harness.purge_redis(broker)


KILLED_BETWEEN_COMMIT_AND_WAKE_UP = """
import json, os, sys
import django
django.setup()
from accounts import outbox
def die(**kwargs):
    os._exit(9)  # the process dies after the commit, before the wake-up task leaves
outbox.outbox_wake = die
from segments import services
services.upload_records(records=json.loads(sys.argv[1]))
print("the process was meant to die")
"""


def test_a_process_killed_between_the_commit_and_the_wake_up_loses_no_live_matching(monkeypatch):
    campaign = running_live()
    records = [event(f"k{i}", recent_ts(i)) for i in range(3)]
    env = {**os.environ, "DATABASE_URL": harness.test_database_url(), "CELERY_BROKER_URL": "memory://"}

    died = subprocess.run(
        [sys.executable, "-c", KILLED_BETWEEN_COMMIT_AND_WAKE_UP, json.dumps(records)],
        cwd=harness.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert died.returncode == 9, died.stdout + died.stderr
    stored = set(user_events().values_list("pk", flat=True))
    assert len(stored) == 3
    assert owed_event_ids() == stored  # the matching committed with the events
    # The sweep wakes the matcher (here we run the task that wake-up starts on a worker).
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, **kwargs: sent.append(name))
    assert outbox.outbox_sweep(now=timezone.now() + datetime.timedelta(minutes=1)) == [outbox.TOPIC_LIVE_EVENTS]
    assert sent == [outbox.TOPIC_LIVE_EVENTS]
    assert tasks.live_events()["granted"] == 3
    assert len(grants(campaign, granted=True)) == 3


def test_the_same_event_re_sent_concurrently_by_several_clients_is_stored_once_and_rewarded_once(api_key):
    campaign = running_live()
    ts = recent_ts()
    batch = [
        event("same", ts),  # identified by (identity, evtName, ts, evtData)
        event("same", recent_ts(5), evtId="order-77"),  # identified by evtId...
        event("no-ts", None),  # no ts: the server's time, never de-duplicated by content
    ]
    clients = 8
    barrier = threading.Barrier(clients)
    answers = []

    def send(n):
        try:
            copy = [dict(r) for r in batch]
            copy[1]["ts"] = recent_ts(10 + n)  # ...so another ts with the same evtId is the same event
            barrier.wait()
            answers.append(post(api_client(api_key), {"d": copy}))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [(a.status_code, a.json()["processed"]) for a in answers] == [(200, 3)] * clients
    assert user_events().filter(profile__identity="same").count() == 2
    assert user_events().filter(profile__identity="no-ts").count() == clients
    while tasks.live_events()["batches"]:
        pass  # the wake-ups went to the test broker: match here what a worker would
    same = user_events().filter(profile__identity="same").values_list("pk", flat=True)
    assert sorted(g.occurrence for g in grants(campaign, profile__identity="same")) == sorted(
        f"event:{pk}" for pk in same
    )  # one reward per event, however often it was sent


def test_an_upload_retried_with_its_idempotency_key_gets_the_first_response_and_stores_nothing_again(api_key):
    client = api_client(api_key)
    body = {"d": [event("k1", None), {"type": "x"}]}  # no ts: only the key can make this retry safe

    first = post(client, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    again = post(client, body, HTTP_IDEMPOTENCY_KEY="batch-1")
    other = post(client, {"d": [event("k2", None)]}, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "partial" and again.content == first.content  # byte for byte
    assert user_events().count() == 1
    assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")


def test_an_upload_whose_idempotency_key_is_in_flight_is_answered_409(api_key):
    key, _secret = api_key
    holding, release = threading.Event(), threading.Event()

    def first_request_still_running():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [key.pk, "batch-9"])
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=first_request_still_running)
    thread.start()
    try:
        assert holding.wait(10)
        response = post(api_client(api_key), {"d": [event("k1", None)]}, HTTP_IDEMPOTENCY_KEY="batch-9")
    finally:
        release.set()
        thread.join()
    assert response.status_code == 409
    assert user_events().count() == 0


def test_a_custom_list_uploaded_while_the_broker_is_down_is_processed_once_it_is_back(settings, tmp_path, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from segments import tasks as segment_tasks
    from segments.models import CustomListUpload
    from tests.factories import UserFactory
    from tests.segments.factories import ProfileFactory

    settings.MEDIA_ROOT = tmp_path
    ProfileFactory(identity="u1")
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="maya", groups=["Marketer"]))
    csv = SimpleUploadedFile("vips.csv", b"Type,Identity\ni,u1\ni,ghost\n", content_type="text/csv")

    with harness.broker_at(closed_port_url()):
        response = client.post("/audience/lists/", {"name": "VIPs", "file": csv})

    assert response.status_code == 302  # the marketer's page, not a 500 after the commit
    upload = CustomListUpload.objects.get()
    assert upload.status == CustomListUpload.Status.IN_PROGRESS
    job = ("segments.custom_list_process", {"args": [upload.pk]})
    assert list(Outbox.objects.values_list("topic", "payload")) == [job]

    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, **kwargs: sent.append((name, args)))
    too_soon = timezone.now() + datetime.timedelta(seconds=settings.OUTBOX_JOB_GRACE_SECONDS - 5)
    assert outbox.outbox_sweep(now=too_soon) == []  # it may just be queued: not sent twice
    later = timezone.now() + datetime.timedelta(seconds=settings.OUTBOX_JOB_GRACE_SECONDS + 1)
    assert outbox.outbox_sweep(now=later) == ["segments.custom_list_process"]
    assert outbox.outbox_sweep(now=later) == []  # once per grace period
    assert sent == [("segments.custom_list_process", [upload.pk])]

    segment_tasks.custom_list_process(*sent[0][1])  # the task the sweep sent, on a worker
    upload.refresh_from_db()
    assert (upload.status, upload.matched, upload.unknown) == (CustomListUpload.Status.COMPLETED, 1, 1)
    assert not Outbox.objects.exists()
