"""End to end with a real Celery worker and beat on Redis: events POSTed to /api/1/upload reward
a live action campaign (the wallet API shows the points), and an inaction campaign rewards after
its window from the beat sweep."""

import statistics
import time

import pytest
from django.apps import apps

from core.beat import periodic_task_ensure
from promotions.models import Campaign, Grant, InactionCheck
from tests import harness
from tests.promotions.live_support import running_inaction, running_live

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def redis_broker():
    """The upload view runs in this test process, whose broker is memory://: send its wake-up
    tasks to the Redis the worker reads instead."""
    url = harness.redis_url()
    harness.purge_redis(url)
    with harness.broker_at(url):
        yield url


def upload(api_client, records):
    response = api_client.post("/api/1/upload", {"d": records}, content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "success"


def test_uploaded_events_reward_a_live_action_campaign_through_the_worker(api_client, redis_broker, capsys):
    campaign = running_live(
        points_type=Campaign.PointsType.PERCENTAGE, points_property="Amount", percentage=10, budget_campaign=10_000
    )
    identities = [f"live-{i}" for i in range(10)]
    with harness.celery_process("worker"):
        # Warm up: the first batch waits for the worker to boot, which is not the latency we report.
        upload(api_client, [{"type": "event", "identity": "warm-up", "evtName": "Charged", "evtData": {"Amount": 10}}])
        harness.wait_for(lambda: Grant.objects.filter(campaign=campaign).exists(), timeout=90, what="the warm-up")
        for identity in identities:
            upload(
                api_client, [{"type": "event", "identity": identity, "evtName": "Charged", "evtData": {"Amount": 250}}]
            )
            time.sleep(0.3)
        harness.wait_for(
            lambda: Grant.objects.filter(campaign=campaign, granted=True).count() == len(identities) + 1,
            timeout=90,
            what="every event to be rewarded",
        )
    response = api_client.get("/api/1/promo/wallets", {"identity": identities[0]})
    [record] = response.json()["records"]
    assert record["walletName"] == campaign.wallet.name and record["activePoints"] == 25

    latencies = []
    for grant in Grant.objects.filter(campaign=campaign).exclude(profile__identity="warm-up").select_related("profile"):
        event_id = int(grant.occurrence.split(":")[1])
        received = grant.profile.events.get(pk=event_id).received_at
        latencies.append((grant.created_at - received).total_seconds())
    with capsys.disabled():
        print(f"\nlive upload-to-grant latency: median {statistics.median(latencies):.3f}s, max {max(latencies):.3f}s")


def test_an_inaction_campaign_rewards_after_its_window_from_the_beat_sweep(api_client, redis_broker):
    # The flush between transactional tests empties the beat tables; put the entry back, ticking fast.
    periodic_task_ensure(apps, name="promotions: live sweep", task="promotions.live_sweep", every_seconds=1)
    campaign = running_inaction(inaction_window_value=1)
    a_time = int(time.time()) - 40  # a 1-minute window that falls due ~20 s from now
    with harness.celery_process("worker"), harness.celery_process("beat", extra_args=("--max-interval=1",)):
        upload(
            api_client,
            [
                {"type": "event", "identity": "waits", "ts": a_time, "evtName": "Added To Cart"},
                {"type": "event", "identity": "buys", "ts": a_time, "evtName": "Added To Cart"},
                {"type": "event", "identity": "buys", "evtName": "Charged"},
            ],
        )
        checks = harness.wait_for(
            lambda: (
                list(InactionCheck.objects.filter(campaign=campaign))
                if InactionCheck.objects.filter(campaign=campaign).count() == 2
                else None
            ),
            timeout=60,
            what="the pending checks",
        )
        assert not Grant.objects.filter(campaign=campaign).exists()
        harness.wait_for(
            lambda: not InactionCheck.objects.filter(campaign=campaign, status="pending").exists(),
            timeout=90,
            what="the checks to be swept",
        )
    [grant] = Grant.objects.filter(campaign=campaign)
    assert grant.granted and grant.profile.identity == "waits"
    waited = next(c for c in checks if c.profile_id == grant.profile_id)
    assert grant.created_at >= waited.due_at
    assert dict(InactionCheck.objects.values_list("profile__identity", "status")) == {
        "waits": "rewarded",
        "buys": "discarded",
    }
    response = api_client.get("/api/1/promo/wallets", {"identity": "waits"})
    assert response.json()["records"][0]["activePoints"] == 50
