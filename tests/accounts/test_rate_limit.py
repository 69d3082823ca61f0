"""The upload API's per-key rate limit (SPEC 2.2, 7): 429 with Retry-After, shared counters."""

import base64
import json
import os
import threading
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client, override_settings

from accounts import api, ratelimit
from accounts.models import RateLimitCounter
from config.env import env_rate, parse_rate
from segments.models import Event
from tests import harness
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

URL = "/api/1/upload"
BATCH = {"d": [{"type": "event", "identity": "u1", "ts": 1_700_000_000, "evtName": "Charged", "evtData": {}}]}


def client_for(key_and_secret) -> Client:
    key, secret = key_and_secret
    token = base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    return Client(HTTP_AUTHORIZATION=f"Basic {token}")


def upload(client):
    return client.post(URL, data=json.dumps(BATCH), content_type="application/json")


@override_settings(API_UPLOAD_RATE_LIMIT=(3, 60))
def test_upload_beyond_the_rate_gets_429_with_retry_after_and_stores_nothing():
    client = client_for(ApiKeyFactory.create_with_secret())
    assert [upload(client).status_code for _ in range(3)] == [200, 200, 200]
    stored = Event.objects.count()

    refused = upload(client)

    assert refused.status_code == 429
    body = refused.json()
    assert body["status"] == "fail"
    assert body["code"] == 429
    assert body["error"].startswith("Too many requests for this API key: at most 3 every 60 seconds.")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert Event.objects.count() == stored


@override_settings(API_UPLOAD_RATE_LIMIT=(2, 60))
def test_each_api_key_has_its_own_allowance():
    first = client_for(ApiKeyFactory.create_with_secret("first"))
    second = client_for(ApiKeyFactory.create_with_secret("second"))
    assert [upload(first).status_code for _ in range(3)] == [200, 200, 429]
    assert [upload(second).status_code for _ in range(2)] == [200, 200]


@override_settings(API_UPLOAD_RATE_LIMIT=(1, 60))
def test_bad_credentials_do_not_use_up_a_keys_allowance():
    key, _secret = ApiKeyFactory.create_with_secret()
    impostor = client_for((key, "wrong-secret"))
    assert [upload(impostor).status_code for _ in range(3)] == [401, 401, 401]
    assert upload(client_for((key, _secret))).status_code == 200


@override_settings(API_UPLOAD_RATE_LIMIT=(0, 0))
def test_a_zero_rate_switches_the_limit_off():
    client = client_for(ApiKeyFactory.create_with_secret())
    assert {upload(client).status_code for _ in range(5)} == {200}


@pytest.mark.parametrize("store", ["database", "cache"])
def test_the_window_resets_after_its_period(store, settings):
    settings.RATE_LIMIT_STORE = store
    rate = (2, 60)
    hits = [ratelimit.rate_limit_hit(scope="t", key="k", rate=rate, now=120.0 + n) for n in range(3)]
    assert [h.allowed for h in hits] == [True, True, False]
    assert hits[2].retry_after == 58  # the window 120..180 ends in 58 s
    assert ratelimit.rate_limit_hit(scope="t", key="k", rate=rate, now=180.0).allowed


@pytest.mark.parametrize(
    ("text", "rate"),
    [("1200/minute", (1200, 60)), ("600/60", (600, 60)), ("50/s", (50, 1)), ("9/hour", (9, 3600)), ("0", (0, 0))],
)
def test_rate_setting_formats(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "10/fortnight", "-5/minute", "10/0", "ten/minute"])
def test_a_bad_rate_setting_stops_startup_with_the_variable_named(text):
    with (
        mock.patch.dict(os.environ, {"API_UPLOAD_RATE_LIMIT": text}),
        pytest.raises(ImproperlyConfigured, match="API_UPLOAD_RATE_LIMIT"),
    ):
        env_rate("API_UPLOAD_RATE_LIMIT", "1200/minute")


def test_the_default_store_is_the_database_shared_by_every_process(settings):
    # Counting in process memory would give each gunicorn worker its own allowance.
    assert settings.RATE_LIMIT_STORE == "database"
    client = client_for(ApiKeyFactory.create_with_secret())
    upload(client)
    assert RateLimitCounter.objects.get().count == 1


def _concurrent_uploads(key_and_secret, count: int) -> list[int]:
    statuses, barrier = [], threading.Barrier(count)

    def one():
        try:
            client = client_for(key_and_secret)
            barrier.wait()
            statuses.append(upload(client).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store", ["database", "cache"])
def test_concurrent_requests_from_many_processes_are_counted_exactly(store):
    # Each thread has its own database connection and cache client, as separate web
    # processes would: the upsert's row lock (database) or Redis INCR (cache) makes the
    # count exact under a burst.
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": harness.redis_url()}}
    with override_settings(CACHES=caches, RATE_LIMIT_STORE=store, API_UPLOAD_RATE_LIMIT=(5, 3600)):
        from django.core.cache import cache

        cache.clear()
        statuses = _concurrent_uploads(ApiKeyFactory.create_with_secret(), 12)
        cache.clear()
    assert sorted(statuses) == [200] * 5 + [429] * 7


def test_rate_limit_error_is_the_api_error_shape():
    response = api.api_error(429, "x")
    assert json.loads(response.content) == {"status": "fail", "code": 429, "error": "x"}
