"""`POST /api/1/upload` (SPEC 2.2): events and profiles in batches of up to 1000 records."""

import hashlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.http import JsonResponse

from config import input_checks
from config.api import api_error, api_view
from segments import services

MAX_BODY_BYTES = 5 * 1024 * 1024
ERR_BODY_TOO_LARGE = "Request body is larger than 5 MB."
ERR_TOO_MANY_RECORDS = f"Too many records: at most {services.MAX_RECORDS} per request."
ERR_MALFORMED = input_checks.ERR_JSON_MALFORMED
ERR_NO_D = 'The body must be a JSON object with a "d" list of records.'
ERR_KEY_TOO_LONG = "Idempotency-Key must be at most 255 characters of text."
ERR_KEY_REUSED = "This Idempotency-Key was already used with a different request body."
ERR_KEY_IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry shortly."


def _records(request) -> list | JsonResponse:
    """The body's records, or the whole-request error (400 / 413) to answer."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return api_error(413, ERR_BODY_TOO_LARGE)
    try:
        body = request.body
    except RequestDataTooBig:
        return api_error(413, ERR_BODY_TOO_LARGE)
    if len(body) > min(MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY_BYTES):
        return api_error(413, ERR_BODY_TOO_LARGE)
    try:
        # Never raises anything else: a body nested too deep to parse is a 400 like malformed JSON;
        # Infinity / NaN parse, and are reported on their record (code 512).
        payload = input_checks.json_parse(body)
    except input_checks.BadJson as exc:
        return api_error(400, exc.message)
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), list):
        return api_error(400, ERR_NO_D)
    records = payload["d"]
    if len(records) > services.MAX_RECORDS:
        return api_error(413, ERR_TOO_MANY_RECORDS)
    return records


@api_view("POST", rate_limit="upload")
def upload(request):
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and (len(key) > 255 or input_checks.text_problem(key)):
        return api_error(400, ERR_KEY_TOO_LONG, field="Idempotency-Key")
    records = _records(request)
    if isinstance(records, JsonResponse):
        return records  # a whole-request error runs nothing, so it is not stored under the key
    if key is None:
        return JsonResponse(services.upload_records(records=records).as_json())
    return _upload_once(request, key=key, records=records)


def _upload_once(request, *, key: str, records: list) -> JsonResponse:
    """Idempotency-Key as the wallet API has it (wallets/api.py), in the same storage: under a
    transaction-level advisory lock on (API key, Idempotency-Key), a stored first response is
    replayed, a different body is 422, a request still in flight is 409; otherwise the batch and
    its response commit together. The fingerprint is the raw body's SHA-256 under an "upload"
    label, so a key first used for a wallet movement is refused here (422) rather than replayed."""
    from wallets.models import IdempotencyRecord  # the shared idempotency table (issue 17 moves it down)

    api_key = request.api_key
    fingerprint = hashlib.sha256(b"upload\n" + request.body).hexdigest()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [api_key.pk, key])
            if not cursor.fetchone()[0]:
                return api_error(409, ERR_KEY_IN_FLIGHT)
        record = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if record is not None:
            if record.fingerprint != fingerprint:
                return api_error(422, ERR_KEY_REUSED, field="Idempotency-Key")
            return JsonResponse(record.response_body, status=record.response_status)
        payload = services.upload_records(records=records).as_json()
        IdempotencyRecord.objects.create(
            api_key=api_key, key=key, fingerprint=fingerprint, response_status=200, response_body=payload
        )
    return JsonResponse(payload)
