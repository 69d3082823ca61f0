"""The wallet API (SPEC 7): balances, transactions, and credits / debits with Idempotency-Key.

Shapes and field checks are the schemas below (pydantic, through ninja); what needs the
database (does the profile exist, the wallet's decimal places, is it active) is checked in the
views. Idempotency: config/idempotency.py.
"""

import datetime
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.http import JsonResponse
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import BeforeValidator, WithJsonSchema

from config import idempotency
from config.account import account_tzinfo
from config.api import ApiError, BodySchema, error_responses, field_error, key_auth
from config.models import ApiScope
from segments.models import Profile
from wallets import selectors, services
from wallets.models import Source, Transaction, Wallet

router = Router(tags=["Wallets"])

PAGE_SIZE = 50
MAX_POINTS = Decimal("1000000000000")
MAX_ACTIVATION_DELAY = datetime.timedelta(days=3660)
ENDPOINT_TRANSACTIONS = "wallets.transactions"

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
ERR_METADATA_NUMBERS = "metadata numbers must be finite (no NaN or Infinity)."
ERR_ORDER_ID = "orderId must be a string of at most 64 characters."
ERR_DELAY = "activationDelay must be an ISO 8601 duration such as P3D or PT12H (at most 10 years)."
ERR_DELAY_DEBIT = "activationDelay applies to credits only."
ERR_PAGE = "page must be a positive integer."
ERR_KEY_TOO_LONG = idempotency.ERR_KEY_TOO_LONG
ERR_KEY_REUSED = idempotency.ERR_KEY_REUSED
ERR_KEY_IN_FLIGHT = idempotency.ERR_KEY_IN_FLIGHT
ERR_WALLET_INACTIVE = "walletId: this wallet is inactive and cannot receive points."

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


class FieldError(ApiError):
    """A field the database refuses (unknown profile or wallet, too many decimals): 400 / 404 / 422."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(status, message, field=field)
        self.field, self.message = field, message


# Field types: each refuses bad input with the message the API has always given ------------


def _identity(value):
    if not isinstance(value, str) or not value.strip():
        raise field_error(ERR_REQUIRED.format(field="identity"))
    return value


def _wallet_id(value):
    if value is None or value == "":
        raise field_error(ERR_REQUIRED.format(field="walletId"))
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise field_error(ERR_WALLET_ID)
    return int(value)


def _transaction_type(value):
    if value not in (Transaction.Kind.CREDIT, Transaction.Kind.DEBIT):
        raise field_error(ERR_TYPE)
    return value


def _points(value):
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise field_error(ERR_POINTS_NUMERIC)
    try:
        points = Decimal(value)
    except InvalidOperation as exc:
        raise field_error(ERR_POINTS_NUMERIC) from exc
    if not points.is_finite():
        raise field_error(ERR_POINTS_NUMERIC)
    if points <= 0:
        raise field_error(ERR_POINTS_POSITIVE)
    if points > MAX_POINTS:
        raise field_error(ERR_POINTS_TOO_BIG)
    return points


def _description(value):
    if not isinstance(value, str) or len(value) > 500:
        raise field_error(ERR_DESCRIPTION)
    if not value.strip():
        raise field_error(ERR_REQUIRED.format(field="description"))
    return value.strip()


def _metadata(value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise field_error(ERR_METADATA)
    if not value:
        raise field_error(ERR_METADATA_EMPTY)
    # Decimals parsed from the body go back to plain JSON numbers before storage; jsonb has no
    # NaN or Infinity (nor does a Decimal too large for a float).
    try:
        return json.loads(json.dumps(value, default=float, allow_nan=False))
    except ValueError as exc:
        raise field_error(ERR_METADATA_NUMBERS) from exc


def _order_id(value):
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        raise field_error(ERR_ORDER_ID)
    return value


def _activation_delay(value):
    if value is not None and not (isinstance(value, str) and _DURATION.match(value)):
        raise field_error(ERR_DELAY)
    return value


def _page(value):
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isdigit() or int(text) < 1:
        raise field_error(ERR_PAGE)
    return int(text)


Identity = Annotated[str, BeforeValidator(_identity), Field(description="The profile's identity.", examples=["u1"])]
WalletId = Annotated[
    int,
    BeforeValidator(_wallet_id),
    Field(description="The wallet's numeric id, shown on its page.", examples=[1]),
]
# Points are JSON numbers: integers stay integers, others keep the wallet's decimal places.
PointsOut = Annotated[int | float, WithJsonSchema({"type": "number", "examples": [100]})]
Points = Annotated[
    Decimal,
    BeforeValidator(_points),
    WithJsonSchema(
        {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1000000000000,
            "description": "Positive; at most the wallet's decimal places (0 to 3).",
            "examples": [100],
        }
    ),
]


def _num(value: Decimal) -> float | int:
    """Points as JSON numbers (SPEC 7): integers stay integers, others keep 3 places."""
    return int(value) if value == value.to_integral_value() else float(value)


def _iso(value):
    return value.isoformat() if value else None


# Schemas ---------------------------------------------------------------------------------


class WalletBalance(Schema):
    walletId: int
    walletName: str
    pointsName: str
    activePoints: PointsOut
    promisedPoints: PointsOut
    creditedPoints: PointsOut
    expiredPoints: PointsOut
    redeemedPoints: PointsOut


class WalletsOut(Schema):
    status: Literal["success"]
    records: list[WalletBalance]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "records": [
                        {
                            "walletId": 1,
                            "walletName": "Supercoins",
                            "pointsName": "Supercoins",
                            "activePoints": 120,
                            "promisedPoints": 50,
                            "creditedPoints": 200,
                            "expiredPoints": 0,
                            "redeemedPoints": 30,
                        }
                    ],
                }
            ]
        }
    }


class TransactionRecord(Schema):
    transactionId: int
    walletId: int
    identity: str
    transactionType: str = Field(description="CREDIT, SCHEDULED (a credit not active yet), DEBIT, EXPIRY, …")
    source: str
    points: PointsOut
    description: str
    metadata: dict[str, Any] | None
    orderId: str | None
    campaignId: int | None
    createdAt: str | None
    activatesAt: str | None
    expiresAt: str | None


# One ledger row as the API shows it: the example of the list and of a movement's answer.
TRANSACTION_EXAMPLE = {
    "transactionId": 41,
    "walletId": 1,
    "identity": "u1",
    "transactionType": "CREDIT",
    "source": "API",
    "points": 100,
    "description": "Order 5512 cashback",
    "metadata": None,
    "orderId": "5512",
    "campaignId": None,
    "createdAt": "2026-11-02T10:15:00+00:00",
    "activatesAt": "2026-11-02T10:15:00+00:00",
    "expiresAt": None,
}


class TransactionsOut(Schema):
    status: Literal["success"]
    page: int
    totalPages: int
    totalRecords: int
    records: list[TransactionRecord]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "page": 1,
                    "totalPages": 1,
                    "totalRecords": 1,
                    "records": [TRANSACTION_EXAMPLE],
                }
            ]
        }
    }


class TransactionsQuery(Schema):
    identity: Identity
    walletId: WalletId
    page: Annotated[int, BeforeValidator(_page), Field(description="1-based; 50 per page, newest first.")] = 1


class WalletTransactionIn(BodySchema):
    identity: Identity
    walletId: WalletId
    transactionType: Annotated[Literal["CREDIT", "DEBIT"], BeforeValidator(_transaction_type)]
    points: Points
    description: Annotated[str, BeforeValidator(_description), Field(description="At most 500 characters.")]
    metadata: Annotated[
        dict[str, Any] | None, BeforeValidator(_metadata), Field(description="A non-empty JSON object.")
    ] = None
    orderId: Annotated[str | None, BeforeValidator(_order_id), Field(description="At most 64 characters.")] = None
    activationDelay: Annotated[
        str | None,
        BeforeValidator(_activation_delay),
        Field(
            description="Credits only: an ISO 8601 duration such as P3D or PT12H (at most 10 years).", examples=["P3D"]
        ),
    ] = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "identity": "u1",
                    "walletId": 1,
                    "transactionType": "CREDIT",
                    "points": 100,
                    "description": "Order 5512 cashback",
                    "orderId": "5512",
                    "activationDelay": "P3D",
                }
            ]
        }
    }


class WalletTransactionOut(Schema):
    status: Literal["success"]
    transaction: TransactionRecord
    balance: WalletBalance

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "success",
                    "transaction": TRANSACTION_EXAMPLE,
                    "balance": {
                        "walletId": 1,
                        "walletName": "Supercoins",
                        "pointsName": "Supercoins",
                        "activePoints": 100,
                        "promisedPoints": 0,
                        "creditedPoints": 100,
                        "expiredPoints": 0,
                        "redeemedPoints": 0,
                    },
                }
            ]
        }
    }


# Views helpers ---------------------------------------------------------------------------


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


def _profile(identity: str) -> Profile:
    profile = Profile.objects.filter(identity=identity).first()
    if profile is None:
        raise FieldError("identity", ERR_IDENTITY_UNKNOWN, 404)
    return profile


def _wallet(wallet_id: int) -> Wallet:
    wallet = Wallet.objects.filter(pk=wallet_id).first() if wallet_id < 2**63 else None
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
        "description": txn.full_description,
        "metadata": txn.full_metadata or None,
        "orderId": txn.order_id or None,
        "campaignId": txn.campaign_id,
        "createdAt": _iso(txn.created_at),
        "activatesAt": _iso(lot.activates_at) if lot else None,
        "expiresAt": _iso(lot.expires_at) if lot else None,
    }


# Endpoints -------------------------------------------------------------------------------


@router.get(
    "promo/wallets",
    auth=key_auth(ApiScope.WALLETS_READ),
    response={200: WalletsOut, **error_responses(404)},
    summary="A profile's wallets",
    description=(
        "Every active wallet (with zeros when the profile has no points in it yet) and any inactive "
        "wallet the profile still holds points in, by wallet id. Points are JSON numbers. "
        "Scope: `wallets:read`. 404 when no profile has the identity."
    ),
)
def wallets_get(request, identity: Query[Identity]):
    profile = _profile(identity)
    rows = selectors.profile_wallet_balances(profile=profile)
    return {"status": "success", "records": [_balances_record(wallet, balances) for wallet, balances in rows]}


@router.get(
    "promo/transactions",
    auth=key_auth(ApiScope.WALLETS_READ),
    response={200: TransactionsOut, **error_responses(404)},
    summary="A profile's transactions in a wallet",
    description="Newest first, 50 per page. Scope: `wallets:read`.",
)
def transactions_get(request, query: Query[TransactionsQuery]):
    profile = _profile(query.identity)
    wallet = _wallet(query.walletId)
    txns = selectors.profile_transactions(wallet=wallet, profile=profile)
    paginator = Paginator(txns, PAGE_SIZE)
    try:
        records = [_transaction_record(t, profile.identity) for t in paginator.page(query.page).object_list]
    except EmptyPage:
        records = []
    return {
        "status": "success",
        "page": query.page,
        "totalPages": paginator.num_pages,
        "totalRecords": paginator.count,
        "records": records,
    }


def _validate_movement(payload: WalletTransactionIn) -> dict:
    """What the schema could not check: the wallet and profile exist, decimals, the wallet is active."""
    wallet = _wallet(payload.walletId)
    points = payload.points
    if points != points.quantize(Decimal(1).scaleb(-wallet.rounding_places), rounding="ROUND_DOWN"):
        raise FieldError("points", ERR_POINTS_PLACES.format(places=wallet.rounding_places))
    activates_at = None
    if payload.activationDelay is not None:
        if payload.transactionType == Transaction.Kind.DEBIT:
            raise FieldError("activationDelay", ERR_DELAY_DEBIT)
        activates_at = parse_duration(payload.activationDelay, start=timezone.now())
    profile = _profile(payload.identity)
    if payload.transactionType == Transaction.Kind.CREDIT and not wallet.is_active:
        raise FieldError("walletId", ERR_WALLET_INACTIVE, 422)
    return {
        "kind": payload.transactionType,
        "wallet": wallet,
        "profile": profile,
        "points": points,
        "description": payload.description,
        "metadata": payload.metadata,
        "order_id": payload.orderId or "",
        "activates_at": activates_at,
    }


def _move(fields: dict, idempotency_key: str | None) -> JsonResponse:
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
        return JsonResponse({"status": "fail", "code": 422, "error": messages[0], "field": field}, status=422)
    balances = selectors.wallet_balances(profile=profile, wallet=wallet)
    payload = {
        "status": "success",
        "transaction": _transaction_record(txn, profile.identity),
        "balance": _balances_record(wallet, balances),
    }
    return JsonResponse(WalletTransactionOut.model_validate(payload).model_dump())


@router.post(
    "promo/wallets/transactions",
    auth=key_auth(ApiScope.WALLETS_WRITE),
    response={200: WalletTransactionOut, **error_responses(404, 409, 422)},
    summary="Credit or debit points",
    description=(
        "CREDIT adds a lot (promised until `activationDelay` has passed); DEBIT spends active points, "
        "oldest expiry first, and is refused (422, field `points`) beyond the active balance. "
        "Send `Idempotency-Key` to make retries safe: a retry returns the first response byte for byte. "
        "Scope: `wallets:write`."
    ),
)
def wallet_transactions_post(
    request, payload: WalletTransactionIn, idempotency_key: idempotency.IdempotencyKey = idempotency.HEADER_PARAM
):
    fields = _validate_movement(payload)
    body = json.loads(request.body, parse_float=Decimal)
    return idempotency.idempotent(
        request,
        endpoint=ENDPOINT_TRANSACTIONS,
        key=idempotency_key,
        body=body,
        run=lambda scoped_key: _move(fields, scoped_key),
    )
