"""`POST /api/1/upload` (SPEC 2.2): events and profiles in batches of up to 1000 records."""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse

from config.api import api_error, api_view
from segments import services

MAX_BODY_BYTES = 5 * 1024 * 1024
ERR_BODY_TOO_LARGE = "Request body is larger than 5 MB."
ERR_TOO_MANY_RECORDS = f"Too many records: at most {services.MAX_RECORDS} per request."
ERR_MALFORMED = "Malformed JSON body."
ERR_NO_D = 'The body must be a JSON object with a "d" list of records.'


@api_view("POST", rate_limit="upload")
def upload(request):
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
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return api_error(400, ERR_MALFORMED)
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), list):
        return api_error(400, ERR_NO_D)
    records = payload["d"]
    if len(records) > services.MAX_RECORDS:
        return api_error(413, ERR_TOO_MANY_RECORDS)
    result = services.upload_records(records=records)
    return JsonResponse(result.as_json())
