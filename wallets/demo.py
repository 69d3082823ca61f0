"""Demo wallet for `make run`: "Supercoins", with points in every bucket for demo profiles."""

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from segments.models import Profile
from wallets import services
from wallets.models import Source, Wallet

DEMO_WALLET = "Supercoins"
PROFILES = 40


def load(stdout) -> None:
    if Wallet.objects.filter(name=DEMO_WALLET).exists():
        stdout.write("  wallets: Supercoins already present")
        return
    marketer = get_user_model().objects.filter(username="marketer").first()
    wallet = services.wallet_create(
        actor=marketer,
        name=DEMO_WALLET,
        points_name="Supercoins",
        expiry_kind=Wallet.ExpiryKind.AFTER,
        expiry_value=6,
        expiry_unit=Wallet.ExpiryUnit.MONTHS,
        consumption_order=Wallet.ConsumptionOrder.EARLIEST_EXPIRY,
        rounding_places=2,
        rounding_mode=Wallet.RoundingMode.DOWN,
    )
    now = timezone.now()
    profiles = list(Profile.objects.filter(identity__startswith="demo-").order_by("identity")[:PROFILES])
    for n, profile in enumerate(profiles):
        # Active: an immediate credit, partly redeemed.
        services.wallet_credit(
            wallet=wallet, profile=profile, points=Decimal(100 + 10 * n), source=Source.API, description="Welcome bonus"
        )
        services.wallet_debit(
            wallet=wallet, profile=profile, points=Decimal(25 + n), source=Source.API, description="Order redemption"
        )
        # Promised: activates in a few days (a return window).
        services.wallet_credit(
            wallet=wallet,
            profile=profile,
            points=Decimal("49.50"),
            source=Source.API,
            description="Cashback on order",
            activates_at=now + datetime.timedelta(days=3 + n % 5),
        )
        # Expired: a credit whose validity already ended.
        services.wallet_credit(
            wallet=wallet,
            profile=profile,
            points=Decimal(30),
            source=Source.MANUAL,
            description="Festival points",
            activates_at=now - datetime.timedelta(days=40),
            expires_at=now - datetime.timedelta(days=10),
            actor=marketer,
        )
    services.lots_expire_due()
    stdout.write(
        f"  wallets: Supercoins with active, promised, redeemed and expired points for {len(profiles)} profiles"
    )
