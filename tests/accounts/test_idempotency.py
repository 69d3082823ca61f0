"""accounts/idempotency.py, the mechanism any endpoint can apply (the wallet transactions API does)."""

import json
from types import SimpleNamespace

import pytest
from django.http import JsonResponse

from accounts import idempotency
from accounts.api import ApiError
from accounts.models import IdempotencyRecord

pytestmark = pytest.mark.django_db


def request_for(api_key):
    return SimpleNamespace(api_key=api_key)


def test_run_happens_once_per_key_and_endpoint_and_replays_the_same_bytes(api_key):
    key, _ = api_key
    calls = []

    def run(scoped_key):
        calls.append(scoped_key)
        return JsonResponse({"status": "success", "n": len(calls), "z": 1, "a": 2}, status=201)

    first = idempotency.idempotent(request_for(key), endpoint="segments.upload", key="k", body={"d": []}, run=run)
    again = idempotency.idempotent(request_for(key), endpoint="segments.upload", key="k", body={"d": []}, run=run)
    other = idempotency.idempotent(request_for(key), endpoint="wallets.transactions", key="k", body={"d": []}, run=run)
    assert calls == [f"api:{key.pk}:k", f"api:{key.pk}:k"]  # once per endpoint
    assert (again.status_code, again.content) == (201, first.content)
    assert json.loads(other.content)["n"] == 2
    record = IdempotencyRecord.objects.get(endpoint="segments.upload")
    assert record.response_content == first.content.decode()


def test_the_same_key_with_another_body_is_refused(api_key):
    key, _ = api_key

    def run(_scoped):
        return JsonResponse({"status": "success"})

    idempotency.idempotent(request_for(key), endpoint="e", key="k", body={"a": 1}, run=run)
    with pytest.raises(ApiError) as refused:
        idempotency.idempotent(request_for(key), endpoint="e", key="k", body={"a": 2}, run=run)
    assert (refused.value.status, refused.value.error) == (422, idempotency.ERR_KEY_REUSED)


def test_without_a_key_run_always_runs_and_nothing_is_stored(api_key):
    key, _ = api_key
    calls = []

    def run(scoped):
        calls.append(scoped)
        return JsonResponse({})

    for _ in range(2):
        idempotency.idempotent(request_for(key), endpoint="e", key=None, body={}, run=run)
    assert calls == [None, None]
    assert not IdempotencyRecord.objects.exists()
