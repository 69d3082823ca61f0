"""Creating a wallet and changing its settings (the expiry rule is frozen once created)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from wallets.models import Wallet, WalletChange
from wallets.services.points import ERR_EXPIRY_RULE_FROZEN


def _jsonable(value):
    return value if value is None or isinstance(value, bool | int | str) else str(value)


@transaction.atomic
def wallet_create(*, actor, **fields) -> Wallet:
    """Create a wallet and record who created it."""
    wallet = Wallet.objects.create(created_by=actor, **fields)
    WalletChange.objects.create(
        wallet=wallet,
        action=WalletChange.Action.CREATED,
        actor=actor,
        changes={name: _jsonable(value) for name, value in fields.items()},
    )
    return wallet


@transaction.atomic
def wallet_update(*, wallet: Wallet, actor, **fields) -> Wallet:
    """Change a wallet's editable settings (never its expiry rule) and record what changed."""
    locked = Wallet.objects.select_for_update(no_key=True).get(pk=wallet.pk)
    changes = {}
    for name, value in fields.items():
        if name in Wallet.EXPIRY_FIELDS and getattr(locked, name) != value:
            raise ValidationError({name: ERR_EXPIRY_RULE_FROZEN})
        old = getattr(locked, name)
        if old != value:
            changes[name] = [_jsonable(old), _jsonable(value)]
            setattr(locked, name, value)
    if changes:
        locked.save(update_fields=list(changes))
        WalletChange.objects.create(wallet=locked, action=WalletChange.Action.UPDATED, actor=actor, changes=changes)
    return locked
