"""The wallet API (SPEC 7): balances, transactions, and credits / debits with Idempotency-Key.

Shapes and field checks are the schemas in wallets/api_schemas.py (pydantic, through ninja);
what needs the database (does the profile exist, the wallet's decimal places, is it active) is
checked in the views. Idempotency: accounts/idempotency.py.
"""

import datetime
import json
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.http import JsonResponse
from django.utils import timezone
from ninja import Query, Router

from accounts import idempotency
from accounts.account import account_tzinfo
from accounts.api import error_responses, key_auth
from accounts.models import ApiScope
from segments.models import Profile
from wallets import selectors, services
from wallets.api_schemas import (
    DURATION,
    ERR_DELAY,
    ERR_DELAY_DEBIT,
    ERR_IDENTITY_UNKNOWN,
    ERR_POINTS_PLACES,
    ERR_WALLET_ID,
    ERR_WALLET_INACTIVE,
    FieldError,
    Identity,
    TransactionsOut,
    TransactionsQuery,
    WalletsOut,
    WalletTransactionIn,
    WalletTransactionOut,
)
from wallets.models import Source, Transaction, Wallet

router = Router(tags=["Wallets"])

PAGE_SIZE = 50
MAX_ACTIVATION_DELAY = datetime.timedelta(days=3660)
ENDPOINT_TRANSACTIONS = "wallets.transactions"


def _num(value: Decimal) -> float | int:
    """Points as JSON numbers (SPEC 7): integers stay integers, others keep 3 places."""
    return int(value) if value == value.to_integral_value() else float(value)


def _iso(value):
    return value.isoformat() if value else None


def parse_duration(text: str, *, start: datetime.datetime) -> datetime.datetime:
    """The instant `text` (ISO 8601 duration) after `start`, in the account timezone."""
    match = DURATION.match(text) if isinstance(text, str) else None
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
