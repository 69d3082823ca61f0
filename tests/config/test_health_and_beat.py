import pytest
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["engine"] == "postgresql"
    assert body["broker"]["ok"] is True
    assert body["worker"] == {"last_heartbeat": None}


def test_healthz_is_503_when_the_broker_is_unreachable(client, monkeypatch):
    from kombu import Connection

    from config.celery import app

    # Nothing listens on port 1.
    monkeypatch.setattr(app, "connection_for_write", lambda: Connection("redis://127.0.0.1:1/0"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["broker"]["ok"] is False


def test_beat_schedule_is_stored_in_the_database():
    heartbeat = PeriodicTask.objects.get(name="Worker heartbeat")
    assert heartbeat.task == "config.worker_heartbeat"
    assert heartbeat.enabled
    assert (heartbeat.interval.every, heartbeat.interval.period) == (60, "seconds")


def test_beat_uses_the_database_scheduler(settings):
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_favicon_ico_answers_with_the_apps_icon_without_signing_in(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
