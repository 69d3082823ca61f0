"""Real concurrent transactions on PostgreSQL (threads, each with its own connection)."""

import base64
import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.utils import timezone

from segments.models import Profile
from tests.factories import ApiKeyFactory
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import CampaignFactory, WalletFactory
from wallets import selectors, services
from wallets.models import Lot, LotDue, Transaction

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal


def run_threads(target, count):
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_concurrent_debits_never_overdraw():
    wallet, profile = WalletFactory(), ProfileFactory()
    for _ in range(3):
        services.wallet_credit(wallet=wallet, profile=profile, points=D(10), source="API")

    def debit(i):
        return services.wallet_debit(wallet=wallet, profile=profile, points=D(4), source="API")

    results, errors = run_threads(debit, 12)
    assert len(results) == 7  # 30 // 4
    assert len(errors) == 5 and all(isinstance(e, ValidationError) for e in errors)
    assert sum(Lot.objects.values_list("remaining", flat=True)) == D(2)
    assert not Lot.objects.filter(remaining__lt=0).exists()
    assert selectors.ledger_balances(profile=profile, wallet=wallet).active == D(2)


def test_same_idempotency_key_used_concurrently_moves_points_once():
    wallet, profile = WalletFactory(), ProfileFactory()
    services.wallet_credit(wallet=wallet, profile=profile, points=D(100), source="API")

    def debit(i):
        return services.wallet_debit(wallet=wallet, profile=profile, points=D(10), source="API", idempotency_key="same")

    results, errors = run_threads(debit, 8)
    assert errors == []
    assert len({t.pk for t in results}) == 1
    assert Transaction.objects.filter(kind="DEBIT").count() == 1
    assert Lot.objects.get().remaining == D(90)

    def credit(i):
        return services.wallet_credit(wallet=wallet, profile=profile, points=D(5), source="API", idempotency_key="c")

    results, errors = run_threads(credit, 8)
    assert errors == [] and len({lot.pk for lot in results}) == 1
    assert Lot.objects.count() == 2


def test_same_idempotency_key_concurrently_through_the_api_moves_points_once():
    wallet, profile = WalletFactory(), ProfileFactory(identity="api-user")
    services.wallet_credit(wallet=wallet, profile=profile, points=D(100), source="API")
    key, secret = ApiKeyFactory.create_with_secret()
    auth = "Basic " + base64.b64encode(f"{key.key_id}:{secret}".encode()).decode()
    body = {"identity": "api-user", "walletId": wallet.pk, "transactionType": "DEBIT", "points": 10, "description": "x"}

    def post(i):
        response = Client().post(
            "/api/1/promo/wallets/transactions",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
            HTTP_IDEMPOTENCY_KEY="order-1",
        )
        return response.status_code, response.json()

    results, errors = run_threads(post, 6)
    assert errors == []
    assert {status for status, _ in results} <= {200, 409}
    successes = [body for status, body in results if status == 200]
    assert successes and all(b == successes[0] for b in successes)
    assert Transaction.objects.filter(kind="DEBIT").count() == 1
    assert Lot.objects.get().remaining == D(90)


def test_concurrent_credits_for_one_campaign_occurrence_credit_once():
    wallet, profile, campaign = WalletFactory(), ProfileFactory(), CampaignFactory()
    ids = [profile.pk] + [ProfileFactory().pk for _ in range(20)]

    def bulk(i):
        return services.wallet_credit_bulk(
            wallet=wallet, profile_ids=ids, points=D(1), campaign=campaign, occurrence="r"
        )

    results, errors = run_threads(bulk, 4)
    assert errors == []
    assert sorted(pid for credited in results for pid in credited) == sorted(ids)
    assert Lot.objects.count() == 21 and Transaction.objects.count() == 21


def test_activation_and_expiry_jobs_run_concurrently_give_the_same_result_as_once():
    wallet = WalletFactory()
    now = timezone.now()
    profiles = [ProfileFactory() for _ in range(30)]
    for n, profile in enumerate(profiles):
        services.wallet_credit(
            wallet=wallet,
            profile=profile,
            points=D(n + 1),
            source="API",
            # Hours, not seconds, ahead: on a loaded machine the setup itself can take seconds,
            # and a lot whose activation time has passed when credited is simply active.
            activates_at=now + datetime.timedelta(hours=1),
            expires_at=now + datetime.timedelta(hours=2) if n % 2 else None,
        )
    assert Transaction.objects.filter(kind="SCHEDULED").count() == 30
    later = now + datetime.timedelta(hours=3)

    def sweep(i):
        if i % 2:
            return services.lots_activate_due(now=later, chunk=4)
        return services.lots_expire_due(now=later, chunk=4)

    results, errors = run_threads(sweep, 6)
    assert errors == []
    assert Transaction.objects.filter(kind="ACTIVATED").count() == 30
    assert Transaction.objects.filter(kind="EXPIRED").count() == 15
    assert Transaction.objects.filter(kind="EXPIRED").values("lot").distinct().count() == 15
    for profile in profiles:
        assert selectors.ledger_balances(profile=profile, wallet=wallet) == selectors.wallet_balances(
            profile=profile, wallet=wallet, at=later
        )


def test_parallel_sweeps_do_each_lifecycle_step_once():
    """LIFECYCLE_SWEEPS concurrent sweeps (one connection each) share the work by SKIP LOCKED:
    together they write exactly one ACTIVATED row per lot and one EXPIRED row per expiring lot."""
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(60)]
    now = timezone.now()
    services.wallet_credit_bulk(
        wallet=wallet,
        profile_ids=ids,
        points=D(4),
        campaign=campaign,
        occurrence="r",
        activates_at=now + datetime.timedelta(hours=1),
        expires_at=now + datetime.timedelta(hours=2),
    )
    between, later = now + datetime.timedelta(hours=1, minutes=30), now + datetime.timedelta(hours=3)
    # Small chunks, so the three sweeps interleave and skip each other's locked steps.
    assert services.lots_activate_due(now=between, chunk=7, sweeps=3) == 60
    assert LotDue.objects.filter(step="expire").count() == 60 == LotDue.objects.count()  # handed on, once each
    assert services.lots_expire_due(now=later, chunk=7, sweeps=3) == 60
    assert services.lots_activate_due(now=later, sweeps=3) == 0 == services.lots_expire_due(now=later, sweeps=3)
    for kind in ("ACTIVATED", "EXPIRED"):
        rows = Transaction.objects.filter(kind=kind)
        assert rows.count() == 60 == rows.values("lot").distinct().count()
    for pid in ids[:5]:
        profile = Profile.objects.get(pk=pid)
        assert selectors.ledger_balances(profile=profile, wallet=wallet).active == D(0)


def test_the_beat_tasks_run_the_configured_number_of_sweeps(settings, monkeypatch):
    from wallets import tasks

    settings.LIFECYCLE_SWEEPS = 3
    calls = []
    monkeypatch.setattr(services, "lots_activate_due", lambda **kw: calls.append(("activate", kw)) or 0)
    monkeypatch.setattr(services, "lots_expire_due", lambda **kw: calls.append(("expire", kw)) or 0)
    tasks.lots_activate_due()
    tasks.lots_expire_due()
    assert calls == [("activate", {"sweeps": 3}), ("expire", {"sweeps": 3})]
