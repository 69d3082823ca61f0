"""The wallet API (SPEC 7): balances, transactions, and credits / debits with Idempotency-Key.

Idempotency: the request runs in one database transaction that first takes a transaction-level
advisory lock on (API key, Idempotency-Key). A request that cannot take it is a concurrent
duplicate still in flight: 409. Under the lock, a stored first response is replayed (same
status and body) when the body matches, and refused with 422 when it does not; otherwise the
movement and its stored response commit together, so a crash leaves neither. Field validation
failures are not stored (nothing ran), like Stripe's.
"""

import datetime
import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db import connection, transaction
from django.http import JsonResponse
from django.utils import timezone

from config import input_checks
from config.account import account_tzinfo
from config.api import api_error, api_view
from segments.models import Profile
from wallets import selectors, services
from wallets.models import IdempotencyRecord, Source, Transaction, Wallet

PAGE_SIZE = 50
MAX_POINTS = Decimal("1000000000000")
MAX_ACTIVATION_DELAY = datetime.timedelta(days=3660)

ERR_JSON = "The body must be a JSON object."
ERR_REQUIRED = "{field} is required."
ERR_IDENTITY_UNKNOWN = "identity: no profile has this identity."
ERR_WALLET_ID = "walletId must be the numeric id of an existing wallet."
ERR_TYPE = "transactionType must be either DEBIT or CREDIT."
ERR_POINTS_NUMERIC = "points must be numeric."
ERR_POINTS_POSITIVE = "points must always be a positive value."
ERR_POINTS_TOO_BIG = "points must be at most 1000000000000."
ERR_POINTS_PLACES = "points can have at most {places} decimal places in this wallet."
ERR_DESCRIPTION = "description must be a string of at most 500 characters."
ERR_METADATA = "metadata must be a JSON object."
ERR_METADATA_EMPTY = "Metadata is provided, but is an empty object."
ERR_ORDER_ID = "orderId must be a string of at most 64 characters."
ERR_DELAY = "activationDelay must be an ISO 8601 duration such as P3D or PT12H (at most 10 years)."
ERR_DELAY_DEBIT = "activationDelay applies to credits only."
ERR_PAGE = "page must be a positive integer."
ERR_KEY_TOO_LONG = "Idempotency-Key must be at most 255 characters."
ERR_KEY_REUSED = "This Idempotency-Key was already used with a different request body."
ERR_KEY_IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry shortly."
ERR_WALLET_INACTIVE = "walletId: this wallet is inactive and cannot receive points."

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class FieldError(Exception):
    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def _field_error(exc: FieldError) -> JsonResponse:
    return api_error(exc.status, exc.message, field=exc.field)


def _num(value: Decimal) -> float | int:
    """Points as JSON numbers (SPEC 7): integers stay integers, others keep 3 places."""
    return int(value) if value == value.to_integral_value() else float(value)


def _iso(value):
    return value.isoformat() if value else None


def parse_duration(text: str, *, start: datetime.datetime) -> datetime.datetime:
    """The instant `text` (ISO 8601 duration) after `start`, in the account timezone."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise FieldError("activationDelay", ERR_DELAY)
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    tz = account_tzinfo()
    local = start.astimezone(tz).replace(tzinfo=None)
    try:
        end = (local + relativedelta(**parts)).replace(tzinfo=tz).astimezone(datetime.UTC)
    except (OverflowError, ValueError) as exc:
        raise FieldError("activationDelay", ERR_DELAY) from exc
    if end - start > MAX_ACTIVATION_DELAY:
        raise FieldError("activationDelay", ERR_DELAY)
    return end


def _profile(identity) -> Profile:
    if not isinstance(identity, str) or not identity.strip():
        raise FieldError("identity", ERR_REQUIRED.format(field="identity"))
    _storable(identity, field="identity")
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        raise FieldError("identity", ERR_IDENTITY_UNKNOWN, 404)
    return profile


def _storable(value, *, field: str) -> None:
    """400 for a value PostgreSQL cannot store (NUL, lone surrogate, Infinity, deep nesting)."""
    problem = input_checks.field_problem(value, path=field)
    if problem is not None:
        raise FieldError(problem[0], problem[1])


def _wallet(value) -> Wallet:
    if value is None or value == "":
        raise FieldError("walletId", ERR_REQUIRED.format(field="walletId"))
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise FieldError("walletId", ERR_WALLET_ID)
    wallet = Wallet.objects.filter(pk=int(value)).first() if int(value) < 2**63 else None
    if wallet is None:
        raise FieldError("walletId", ERR_WALLET_ID, 404)
    return wallet


def _balances_record(wallet: Wallet, balances: selectors.Balances) -> dict:
    return {
        "walletId": wallet.pk,
        "walletName": wallet.name,
        "pointsName": wallet.points_name,
        "activePoints": _num(balances.active),
        "promisedPoints": _num(balances.promised),
        "creditedPoints": _num(balances.credited),
        "expiredPoints": _num(balances.expired),
        "redeemedPoints": _num(balances.redeemed),
    }


def _transaction_record(txn: Transaction, identity: str) -> dict:
    lot = txn.lot
    return {
        "transactionId": txn.pk,
        "walletId": txn.wallet_id,
        "identity": identity,
        "transactionType": txn.kind,
        "source": txn.source,
        "points": _num(txn.points),
        "description": txn.description,
        "metadata": txn.metadata or None,
        "orderId": txn.order_id or None,
        "campaignId": txn.campaign_id,
        "createdAt": _iso(txn.created_at),
        "activatesAt": _iso(lot.activates_at) if lot else None,
        "expiresAt": _iso(lot.expires_at) if lot else None,
    }


@api_view("GET")
def wallets_get(request):
    try:
        profile = _profile(request.GET.get("identity", ""))
    except FieldError as exc:
        return _field_error(exc)
    balances = selectors.wallet_balances(profile=profile)
    wallets = Wallet.objects.filter(pk__in=balances).order_by("pk")
    return JsonResponse({"status": "success", "records": [_balances_record(w, balances[w.pk]) for w in wallets]})


@api_view("GET")
def transactions_get(request):
    try:
        profile = _profile(request.GET.get("identity", ""))
        wallet = _wallet(request.GET.get("walletId", ""))
        raw_page = request.GET.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            raise FieldError("page", ERR_PAGE)
    except FieldError as exc:
        return _field_error(exc)
    txns = selectors.profile_transactions(wallet=wallet, profile=profile).select_related("lot")
    paginator = Paginator(txns, PAGE_SIZE)
    try:
        page = paginator.page(int(raw_page))
        records = [_transaction_record(t, profile.identity) for t in page.object_list]
    except EmptyPage:
        records = []
    return JsonResponse(
        {
            "status": "success",
            "page": int(raw_page),
            "totalPages": paginator.num_pages,
            "totalRecords": paginator.count,
            "records": records,
        }
    )


def _points(value, wallet: Wallet) -> Decimal:
    if value is None:
        raise FieldError("points", ERR_REQUIRED.format(field="points"))
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise FieldError("points", ERR_POINTS_NUMERIC)
    try:
        points = Decimal(value)
    except InvalidOperation as exc:
        raise FieldError("points", ERR_POINTS_NUMERIC) from exc
    if not points.is_finite():
        raise FieldError("points", ERR_POINTS_NUMERIC)
    if points <= 0:
        raise FieldError("points", ERR_POINTS_POSITIVE)
    if points > MAX_POINTS:
        raise FieldError("points", ERR_POINTS_TOO_BIG)
    if points != points.quantize(Decimal(1).scaleb(-wallet.rounding_places), rounding="ROUND_DOWN"):
        raise FieldError("points", ERR_POINTS_PLACES.format(places=wallet.rounding_places))
    return points


def _validate_movement(body: dict) -> dict:
    """Every field of a credit / debit request, or the first FieldError (in field order)."""
    for field, value in body.items():
        _storable(value, field=field)
    for field in ("identity", "walletId", "transactionType", "points", "description"):
        if field not in body or body[field] is None:
            raise FieldError(field, ERR_REQUIRED.format(field=field))
    kind = body["transactionType"]
    if kind not in (Transaction.Kind.CREDIT, Transaction.Kind.DEBIT):
        raise FieldError("transactionType", ERR_TYPE)
    wallet = _wallet(body["walletId"])
    points = _points(body["points"], wallet)
    description = body["description"]
    if not isinstance(description, str) or len(description) > 500:
        raise FieldError("description", ERR_DESCRIPTION)
    if not description.strip():
        raise FieldError("description", ERR_REQUIRED.format(field="description"))
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise FieldError("metadata", ERR_METADATA)
        if not metadata:
            raise FieldError("metadata", ERR_METADATA_EMPTY)
    order_id = body.get("orderId")
    if order_id is not None and (not isinstance(order_id, str) or len(order_id) > 64):
        raise FieldError("orderId", ERR_ORDER_ID)
    activates_at = None
    if body.get("activationDelay") is not None:
        if kind == Transaction.Kind.DEBIT:
            raise FieldError("activationDelay", ERR_DELAY_DEBIT)
        activates_at = parse_duration(body["activationDelay"], start=timezone.now())
    profile = _profile(body["identity"])
    if kind == Transaction.Kind.CREDIT and not wallet.is_active:
        raise FieldError("walletId", ERR_WALLET_INACTIVE, 422)
    return {
        "kind": kind,
        "wallet": wallet,
        "profile": profile,
        "points": points,
        "description": description.strip(),
        "metadata": _metadata(metadata),
        "order_id": order_id or "",
        "activates_at": activates_at,
    }


def _metadata(metadata):
    stored = _jsonable(metadata)
    _storable(stored, field="metadata")  # a Decimal beyond a float's range became Infinity
    return stored


def _jsonable(metadata):
    # Decimals parsed from the body go back to plain JSON numbers before storage.
    return json.loads(json.dumps(metadata, default=float)) if metadata else None


def _move(fields: dict, idempotency_key: str | None) -> tuple[int, dict]:
    wallet, profile = fields["wallet"], fields["profile"]
    common = {
        "wallet": wallet,
        "profile": profile,
        "points": fields["points"],
        "source": Source.API,
        "description": fields["description"],
        "metadata": fields["metadata"],
        "idempotency_key": idempotency_key,
        "order_id": fields["order_id"],
    }
    try:
        if fields["kind"] == Transaction.Kind.CREDIT:
            lot = services.wallet_credit(activates_at=fields["activates_at"], **common)
            txn = lot.transactions.order_by("pk").first()
        else:
            txn = services.wallet_debit(**common)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        return 422, {"status": "fail", "code": 422, "error": messages[0], "field": field}
    balances = selectors.wallet_balances(profile=profile, wallet=wallet)
    return 200, {
        "status": "success",
        "transaction": _transaction_record(txn, profile.identity),
        "balance": _balances_record(wallet, balances),
    }


def _fingerprint(body) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _try_key_lock(api_key_id: int, key: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [api_key_id, key])
        return cursor.fetchone()[0]


@api_view("POST")
def wallet_transactions_post(request):
    try:
        body = input_checks.json_parse(request.body, parse_float=Decimal)
    except input_checks.BadJson:
        return api_error(400, ERR_JSON)
    if not isinstance(body, dict):
        return api_error(400, ERR_JSON)
    key = request.headers.get("Idempotency-Key", "").strip() or None
    if key is not None and (len(key) > 255 or input_checks.text_problem(key)):
        return api_error(400, ERR_KEY_TOO_LONG, field="Idempotency-Key")
    try:
        fields = _validate_movement(body)
    except FieldError as exc:
        return _field_error(exc)
    if key is None:
        status, payload = _move(fields, None)
        return JsonResponse(payload, status=status)
    api_key = request.api_key
    fingerprint = _fingerprint(body)
    with transaction.atomic():
        if not _try_key_lock(api_key.pk, key):
            return api_error(409, ERR_KEY_IN_FLIGHT)
        record = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if record is not None:
            if record.fingerprint != fingerprint:
                return api_error(422, ERR_KEY_REUSED, field="Idempotency-Key")
            return JsonResponse(record.response_body, status=record.response_status)
        status, payload = _move(fields, f"api:{api_key.pk}:{key}")
        IdempotencyRecord.objects.create(
            api_key=api_key, key=key, fingerprint=fingerprint, response_status=status, response_body=payload
        )
    return JsonResponse(payload, status=status)
