"""A real Celery worker process on Redis runs a real task against the test database."""

import pytest

from accounts.models import WorkerHeartbeat
from accounts.tasks import worker_heartbeat
from tests import harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_a_real_worker_runs_the_heartbeat_task_end_to_end():
    from config.celery import app

    broker = harness.redis_url()
    harness.purge_redis(broker)
    with harness.celery_process("worker"), app.connection_for_write(broker) as conn:
        worker_heartbeat.apply_async(connection=conn)
        beat = harness.wait_for(lambda: WorkerHeartbeat.objects.first(), what="the worker to record its heartbeat")
    assert beat.hostname


def test_healthz_shows_the_workers_last_heartbeat(client):
    worker_heartbeat.apply()
    body = client.get("/healthz").json()
    assert body["worker"]["last_heartbeat"] is not None
    assert body["worker"]["age_seconds"] < 60
