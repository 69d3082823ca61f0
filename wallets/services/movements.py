"""One credit, debit or manual adjustment of a profile's points, each in one transaction."""

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from wallets.models import Consumption, Lot, LotDue, Source, Transaction, Wallet
from wallets.services.points import (
    ERR_DESCRIPTION_REQUIRED,
    ERR_INSUFFICIENT_BALANCE,
    ERR_KIND,
    ERR_WALLET_INACTIVE,
    NeverExpires,
    lot_due_steps,
    lot_lifecycle,
    positive_points,
)


def _existing_by_key(idempotency_key):
    if not idempotency_key:
        return None
    return Transaction.objects.select_related("lot").filter(idempotency_key=idempotency_key).first()


def wallet_credit(
    *,
    wallet: Wallet,
    profile,
    points: Decimal,
    source: str,
    description: str = "",
    campaign=None,
    occurrence: str = "",
    metadata: dict | None = None,
    activates_at: datetime.datetime | None = None,
    expires_at: datetime.datetime | NeverExpires | None = None,
    idempotency_key: str | None = None,
    actor=None,
    order_id: str = "",
) -> Lot:
    """Credit points as a new lot: active now, or promised until `activates_at`.

    `expires_at`: None = the wallet's default expiry; NEVER_EXPIRES = never.

    Idempotent: a repeated `idempotency_key`, or a repeated (campaign, profile, occurrence),
    returns the lot of the first credit and moves nothing.
    """
    if not wallet.is_active:
        raise ValidationError({"wallet": ERR_WALLET_INACTIVE})
    amount = positive_points(wallet, points)
    existing = _existing_by_key(idempotency_key)
    if existing is not None:
        return existing.lot
    if campaign is not None:
        lot = Lot.objects.filter(campaign=campaign, profile=profile, occurrence=occurrence).first()
        if lot is not None:
            return lot
    now = timezone.now()
    activates_at, expires_at = lot_lifecycle(wallet, now, activates_at, expires_at)
    active_now = activates_at <= now
    try:
        with transaction.atomic():
            lot = Lot.objects.create(
                wallet=wallet,
                profile=profile,
                amount=amount,
                remaining=amount,
                issued_at=now,
                activates_at=activates_at,
                expires_at=expires_at,
                source=source,
                campaign=campaign,
                occurrence=occurrence,
                description=description,
                metadata=metadata or {},
            )
            # The lot holds what the credit is (campaign, occurrence, description, metadata);
            # its ledger row records the movement and who asked for it, nothing the lot repeats.
            Transaction.objects.create(
                wallet=wallet,
                profile=profile,
                lot=lot,
                kind=Transaction.Kind.CREDIT if active_now else Transaction.Kind.SCHEDULED,
                source=source,
                points=amount,
                order_id=order_id,
                idempotency_key=idempotency_key or None,
                actor=actor,
                created_at=now,
            )
            LotDue.objects.bulk_create(lot_due_steps(lot.pk, activates_at if not active_now else None, expires_at))
    except IntegrityError:
        # A concurrent request with the same key or occurrence committed first: it is the credit.
        existing = _existing_by_key(idempotency_key)
        if existing is not None:
            return existing.lot
        if campaign is not None:
            lot = Lot.objects.filter(campaign=campaign, profile=profile, occurrence=occurrence).first()
            if lot is not None:
                return lot
        raise
    return lot


def _not_yet_expired_by_the_job(lots: list[Lot]) -> list[Lot]:
    """Drop locked lots whose EXPIRED row the lifecycle jobs have already written.

    Our clock said the lot is still valid, but a job (whose clock says it expired) may have
    held the lot's lock while we waited, and recorded its remainder as expired: spending it
    now would move points twice. An expiring lot always has one pending step until its expiry
    is written (its activation, which the activation sweep swaps for the expiry in one
    transaction, or its expiry), and the job deletes it in the transaction that writes
    EXPIRED; this query, run after our locks are granted, sees that commit. Each probe is a
    primary-key lookup.
    """
    expiring = [lot for lot in lots if lot.expires_at is not None]
    if not expiring:
        return lots
    pending = Q()
    for lot in expiring:
        pending |= Q(step=LotDue.Step.EXPIRE, due_at=lot.expires_at, lot_id=lot.pk)
        pending |= Q(step=LotDue.Step.ACTIVATE, due_at=lot.activates_at, lot_id=lot.pk)
    still_due = set(LotDue.objects.filter(pending).values_list("lot_id", flat=True))
    return [lot for lot in lots if lot.expires_at is None or lot.pk in still_due]


def _consumption_key(wallet: Wallet):
    far = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    if wallet.consumption_order == Wallet.ConsumptionOrder.EARLIEST_EXPIRY:
        return lambda lot: (lot.expires_at or far, lot.issued_at, lot.pk)
    return lambda lot: (lot.issued_at, lot.pk)


def wallet_debit(
    *,
    wallet: Wallet,
    profile,
    points: Decimal,
    source: str,
    description: str = "",
    metadata: dict | None = None,
    idempotency_key: str | None = None,
    actor=None,
    order_id: str = "",
) -> Transaction:
    """Debit active points, consuming lots in the wallet's consumption order.

    Refuses (ValidationError on `points`) more than the active balance. Idempotent per key.
    """
    amount = positive_points(wallet, points)
    existing = _existing_by_key(idempotency_key)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            now = timezone.now()
            # Lock the spendable lots in pk order: concurrent debits of one profile queue here,
            # and PostgreSQL re-checks the WHERE on each row after the wait, so a lot emptied by
            # the transaction we waited for drops out.
            lots = list(
                Lot.objects.select_for_update(no_key=True)
                .filter(wallet=wallet, profile=profile, activates_at__lte=now, remaining__gt=0)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .order_by("pk")
            )
            lots = _not_yet_expired_by_the_job(lots)
            if sum((lot.remaining for lot in lots), Decimal(0)) < amount:
                raise ValidationError({"points": ERR_INSUFFICIENT_BALANCE})
            txn = Transaction.objects.create(
                wallet=wallet,
                profile=profile,
                kind=Transaction.Kind.DEBIT,
                source=source,
                points=amount,
                description=description,
                metadata=metadata or {},
                order_id=order_id,
                idempotency_key=idempotency_key or None,
                actor=actor,
                created_at=now,
            )
            left = amount
            consumptions = []
            for lot in sorted(lots, key=_consumption_key(wallet)):
                if left <= 0:
                    break
                take = min(left, lot.remaining)
                consumptions.append(Consumption(transaction=txn, lot=lot, points=take))
                left -= take
            # One statement for every lot consumed: its trigger updates the lot rollup once, in
            # key order (a statement per lot would lock rollup rows in consumption order, which
            # two debits of different profiles may see the other way round: a deadlock).
            Lot.objects.filter(pk__in=[c.lot.pk for c in consumptions]).update(
                remaining=F("remaining") - Case(*(When(pk=c.lot.pk, then=Value(c.points)) for c in consumptions))
            )
            Consumption.objects.bulk_create(consumptions)
    except IntegrityError:
        existing = _existing_by_key(idempotency_key)
        if existing is not None:
            return existing
        raise
    return txn


def wallet_adjust(*, wallet: Wallet, profile, kind: str, points: Decimal, description: str, actor) -> Transaction:
    """A marketer's manual credit or debit (SPEC 3.1 Adjust points); returns its ledger row."""
    if not (description or "").strip():
        raise ValidationError({"description": ERR_DESCRIPTION_REQUIRED})
    if kind == Transaction.Kind.CREDIT:
        with transaction.atomic():
            lot = wallet_credit(
                wallet=wallet,
                profile=profile,
                points=points,
                source=Source.MANUAL,
                description=description.strip(),
                actor=actor,
            )
            return lot.transactions.get(kind__in=[Transaction.Kind.CREDIT, Transaction.Kind.SCHEDULED])
    if kind == Transaction.Kind.DEBIT:
        return wallet_debit(
            wallet=wallet,
            profile=profile,
            points=points,
            source=Source.MANUAL,
            description=description.strip(),
            actor=actor,
        )
    raise ValidationError({"kind": ERR_KIND})
