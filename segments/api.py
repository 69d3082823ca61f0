"""`POST /api/1/upload` (SPEC 2.2): events and profiles in batches of up to 1000 records.

The endpoint checks the envelope only (`{"d": [...]}`, 1000 records, 5 MB); each record is
validated on its own by `services.upload_records`, so a bad record is reported with its code and
index while the good ones are stored. The record schemas below describe them in the OpenAPI
document; they do not validate (a schema error would refuse the whole batch).
"""

from typing import Any, Literal

import pydantic
from django.http import JsonResponse
from ninja import Field, Router, Schema

from accounts import idempotency
from accounts.api import ERR_BODY_TOO_LARGE, ApiError, error_responses, key_auth
from accounts.models import ApiScope
from core import input_checks
from segments import services

router = Router(tags=["Events and profiles"])

ERR_TOO_MANY_RECORDS = f"Too many records: at most {services.MAX_RECORDS} per request."
ERR_MALFORMED = input_checks.ERR_JSON_MALFORMED
ERR_NO_D = 'The body must be a JSON object with a "d" list of records.'
__all__ = ["ERR_BODY_TOO_LARGE", "ERR_MALFORMED", "ERR_NO_D", "ERR_TOO_MANY_RECORDS", "router"]

TS_DESCRIPTION = "UNIX epoch seconds (an integer); optional, now when absent (code 525 when not epoch seconds)."


class EventRecord(Schema):
    type: Literal["event"]
    identity: str = Field(description="The profile's identity; an unknown one creates the profile (523 when missing).")
    ts: int | None = Field(None, description=TS_DESCRIPTION)
    evtName: str = Field(description="The event's name (509 when missing, 526 above 120 characters).")
    evtData: dict[str, Any] | None = Field(
        None,
        description="The event's properties: at most 256 (522), keys up to 120 characters and string values "
        "up to 512 bytes (526), values strings, numbers, booleans or null (512 otherwise).",
    )
    evtId: str | None = Field(
        None,
        description="Optional: the event's own id. An event re-sent with the same evtId is stored once "
        "(without it: the same identity, evtName, ts and evtData).",
    )


class ProfileRecord(Schema):
    type: Literal["profile"]
    identity: str = Field(description="The profile's identity; an unknown one creates the profile.")
    ts: int | None = Field(None, description=TS_DESCRIPTION)
    profileData: dict[str, Any] = Field(description="Properties merged into the profile's existing ones.")


class UploadIn(Schema):
    """The envelope; each record is checked on its own by the upload service."""

    d: list[Any]


class UnprocessedRecord(Schema):
    index: int = Field(description="The record's position in `d`, from 0.")
    code: int = Field(description="509, 512, 522, 523, 524, 525 or 526 (SPEC 2.2).")
    error: str


class UploadOut(Schema):
    status: Literal["success", "partial", "fail"]
    processed: int
    unprocessed: list[UnprocessedRecord]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "partial",
                    "processed": 1,
                    "unprocessed": [{"index": 1, "code": 523, "error": "Missing identity"}],
                }
            ]
        }
    }


def _record_schema(model) -> dict:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["d"],
                    "properties": {
                        "d": {
                            "type": "array",
                            "maxItems": services.MAX_RECORDS,
                            "items": {"oneOf": [_record_schema(EventRecord), _record_schema(ProfileRecord)]},
                        }
                    },
                },
                "example": {
                    "d": [
                        {
                            "type": "event",
                            "identity": "u1",
                            "ts": 1700000000,
                            "evtName": "Charged",
                            "evtData": {"Amount": 250, "Product ID": "p9"},
                        },
                        {"type": "profile", "identity": "u1", "ts": 1700000000, "profileData": {"City": "Pune"}},
                    ]
                },
            }
        },
    }
}


@router.post(
    "upload",
    auth=key_auth(ApiScope.EVENTS_WRITE, rate_limit="upload"),
    response={200: UploadOut, **error_responses(409, 413, 422, 429)},
    summary="Upload events and profiles",
    description=(
        "At most 1000 records and 5 MB per request (413 above). Valid records are stored even when "
        "others fail; each failed record is listed in `unprocessed` with its index, code and message: "
        "509 event name missing, 512 invalid structure, 522 more than 256 properties, 523 identity "
        "missing, 524 neither event nor profile, 525 `ts` not epoch seconds, 526 key or value too long. "
        "A record with NUL characters, unpaired surrogates, non-finite numbers or nesting deeper than "
        f"{input_checks.MAX_DEPTH} levels is refused on its own (512). An event re-sent with the same `evtId`, or "
        "with the same identity, `evtName`, `ts` and `evtData`, is stored once and acknowledged as processed. "
        "`Idempotency-Key` makes a retried request return the first response. "
        "Rate limited per API key (429 with `Retry-After`). Scope: `events:write`."
    ),
    openapi_extra=UPLOAD_BODY,
)
def upload(request, idempotency_key: idempotency.IdempotencyKey = idempotency.HEADER_PARAM):
    try:
        # Never raises anything else: a body nested too deep to parse is a 400 like malformed JSON;
        # Infinity / NaN parse, and are reported on their record (code 512).
        payload = input_checks.json_parse(request.body)
    except input_checks.BadJson as exc:
        raise ApiError(400, exc.message) from exc
    try:
        envelope = UploadIn.model_validate(payload if isinstance(payload, dict) else {})
    except pydantic.ValidationError as exc:
        raise ApiError(400, ERR_NO_D) from exc
    if len(envelope.d) > services.MAX_RECORDS:
        raise ApiError(413, ERR_TOO_MANY_RECORDS)
    # The raw records, not the envelope's copies: the service validates each one. A whole-request
    # error above ran nothing, so it is not stored under the Idempotency-Key.
    records = payload["d"]
    return idempotency.idempotent(
        request,
        endpoint="segments.upload",
        key=idempotency_key,
        body=payload,
        run=lambda _scoped_key: JsonResponse(services.upload_records(records=records).as_json()),
    )
