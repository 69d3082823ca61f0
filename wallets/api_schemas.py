"""The wallet API's request and response shapes (SPEC 7): field types that refuse bad input with the
API's messages, and the ninja schemas built from them."""

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator, WithJsonSchema

from accounts import idempotency
from accounts.api import ApiError, BodySchema, field_error
from wallets.models import Transaction

PAGE_SIZE = 50
MAX_POINTS = Decimal("1000000000000")
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

# An ISO 8601 duration (activationDelay), at most 10 years once measured from now (wallets/api.py).
DURATION = re.compile(
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
    if value is not None and not (isinstance(value, str) and DURATION.match(value)):
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
