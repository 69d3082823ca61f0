"""Hypothesis: for random sequences of credits, debits, activations and expiries, every bucket
equals the ledger's sum and no lot goes negative."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.models import Profile
from wallets import selectors, services
from wallets.models import Lot, Transaction, Wallet

pytestmark = pytest.mark.django_db

points = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500"), places=3)
minutes = st.integers(min_value=0, max_value=120)
operation = st.one_of(
    st.tuples(st.just("credit"), points, minutes, st.one_of(st.none(), st.integers(1, 240))),
    st.tuples(st.just("debit"), points),
    st.tuples(st.just("advance"), st.integers(1, 90)),
    st.tuples(st.just("activate")),
    st.tuples(st.just("expire")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25), order=st.sampled_from(list(Wallet.ConsumptionOrder)))
def test_random_movements_keep_balances_equal_to_the_ledger(clock, ops, order):
    start = clock.now
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(name="Prop", points_name="P", rounding_places=3, consumption_order=order)
            profile = Profile.objects.create(identity="prop")
            for op in ops:
                if op[0] == "credit":
                    _, amount, delay, life = op
                    activates = timezone.now() + datetime.timedelta(minutes=delay)
                    expires = activates + datetime.timedelta(minutes=life) if life else None
                    services.wallet_credit(
                        wallet=wallet,
                        profile=profile,
                        points=amount,
                        source="API",
                        activates_at=activates,
                        expires_at=expires,
                    )
                elif op[0] == "debit":
                    before = selectors.wallet_balances(profile=profile, wallet=wallet).active
                    try:
                        services.wallet_debit(wallet=wallet, profile=profile, points=op[1], source="API")
                        assert op[1] <= before
                    except ValidationError:
                        assert op[1] > before
                elif op[0] == "advance":
                    clock.advance(minutes=op[1])
                elif op[0] == "activate":
                    services.lots_activate_due()
                else:
                    services.lots_expire_due()
                assert not Lot.objects.filter(remaining__lt=0).exists()
            # Once the jobs have caught up, the ledger and the lots agree on every bucket.
            services.lots_activate_due()
            services.lots_expire_due()
            derived = selectors.wallet_balances(profile=profile, wallet=wallet)
            assert selectors.ledger_balances(profile=profile, wallet=wallet) == derived
            assert derived.credited == derived.promised + derived.active + derived.expired + derived.redeemed
            debits = sum(Transaction.objects.filter(kind="DEBIT").values_list("points", flat=True), Decimal(0))
            assert debits == derived.redeemed
            raise _Rollback
    except _Rollback:
        pass
    finally:
        clock.set(start)


class _Rollback(Exception):
    """Undo each example's rows so the next example starts from an empty ledger."""
