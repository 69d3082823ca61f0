"""`Idempotency-Key` for the public API (SPEC 7): a retry gets the first response, byte for byte.

    response = idempotency.idempotent(
        request, endpoint="wallets.transactions", key=idempotency_key, body=parsed_body,
        run=lambda scoped_key: ...HttpResponse...,
    )

The request runs in one database transaction that first takes a transaction-level advisory lock
on (API key, Idempotency-Key). A request that cannot take it is a concurrent duplicate still in
flight: 409. Under the lock, a stored first response is replayed (same status, same bytes) when
the body matches, and refused with 422 when it does not; otherwise `run` executes and its
response is stored in the same transaction, so a crash leaves neither. Validation failures
raised before `idempotent` is called are not stored (nothing ran), like Stripe's.

The response's bytes are stored as text, not as jsonb: jsonb reorders an object's keys.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Annotated

from django.db import connection, transaction
from django.http import HttpResponse
from ninja import Header
from pydantic import BeforeValidator

from accounts.api import ApiError, field_error
from accounts.models import IdempotencyRecord
from core import input_checks

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
ERR_KEY_TOO_LONG = "Idempotency-Key must be at most 255 characters."
ERR_KEY_UNSTORABLE = "Idempotency-Key {reason}."
ERR_KEY_REUSED = "This Idempotency-Key was already used with a different request body."
ERR_KEY_IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry shortly."
HEADER_DESCRIPTION = (
    "Optional. A retry with the same key and the same body gets the first response again, byte for "
    "byte, without doing the work twice; the same key with a different body is refused (422), and "
    "while the first request is still running a retry gets 409. At most 255 characters; keys are "
    "per API key and per endpoint."
)


def _clean_key(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise field_error(ERR_KEY_TOO_LONG)
    value = value.strip()
    if len(value) > MAX_KEY_LENGTH:
        raise field_error(ERR_KEY_TOO_LONG)
    reason = input_checks.text_problem(value)
    if reason:
        raise field_error(ERR_KEY_UNSTORABLE.format(reason=reason))
    return value or None


# A view argument: `idempotency_key: IdempotencyKey = idempotency.HEADER_PARAM`.
IdempotencyKey = Annotated[str | None, BeforeValidator(_clean_key)]
HEADER_PARAM = Header(None, alias=HEADER, description=HEADER_DESCRIPTION, examples=["order-5512-credit"])


def fingerprint(body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _try_key_lock(api_key_id: int, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [api_key_id, key])
        return cursor.fetchone()[0]


def replay(record: IdempotencyRecord) -> HttpResponse:
    # Rows stored before the exact bytes were kept replay from their parsed JSON.
    content = record.response_content.encode() if record.response_content else json.dumps(record.response_body).encode()
    return HttpResponse(content, status=record.response_status, content_type="application/json")


def idempotent(
    request, *, endpoint: str, key: str | None, body, run: Callable[[str | None], HttpResponse]
) -> HttpResponse:
    """Run `run(scoped_key)` once per (API key, endpoint, key); a retry replays the stored response.

    `scoped_key` ("api:<key pk>:<key>", None without a key) can go on the rows `run` writes as a
    second guard in the database.
    """
    if key is None:
        return run(None)
    api_key = request.api_key
    print_ = fingerprint(body)
    with transaction.atomic():
        if not _try_key_lock(api_key.pk, key):
            raise ApiError(409, ERR_KEY_IN_FLIGHT)
        record = IdempotencyRecord.objects.filter(api_key=api_key, endpoint=endpoint, key=key).first()
        if record is not None:
            if record.fingerprint != print_:
                raise ApiError(422, ERR_KEY_REUSED, field=HEADER)
            return replay(record)
        response = run(f"api:{api_key.pk}:{key}")
        content = response.content.decode()
        IdempotencyRecord.objects.create(
            api_key=api_key,
            endpoint=endpoint,
            key=key,
            fingerprint=print_,
            response_status=response.status_code,
            response_body=json.loads(content),
            response_content=content,
        )
    return response
