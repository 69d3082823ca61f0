"""Fewer rows per reward (issue #18): one lifecycle row per lot (its next step), and a ledger row
that does not repeat its lot; the lifecycle still runs on time and the balance still equals the
ledger."""

import datetime
import importlib
import json
from decimal import Decimal

import pytest
from django.db import connection

from promotions.models import Campaign
from tests.promotions.helpers import campaign_past
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import selectors, services
from wallets.models import Lot, LotDue, Transaction

pytestmark = pytest.mark.django_db
D = Decimal

MIGRATION = importlib.import_module("wallets.migrations.0010_one_step_per_lot_lean_ledger")


def wallet_rows() -> int:
    return Lot.objects.count() + Transaction.objects.count() + LotDue.objects.count()


def run_once(campaign):
    """Reward the campaign's whole audience once, as a run's chunk does."""
    from promotions.engine import grants

    ids = list(campaign.custom_list.members.values_list("profile_id", flat=True))
    grants.reward_profiles(campaign=campaign, profile_ids=ids, occurrence="run:1")
    return ids


def test_a_delayed_expiring_flat_run_writes_three_wallet_rows_per_reward_and_still_runs_its_lifecycle(clock):
    campaign = campaign_past(
        members=4,
        custom_lifecycle=True,
        activation=Campaign.Activation.CUSTOM,
        activation_value=1,
        activation_unit=Campaign.DelayUnit.DAYS,
        expiry=Campaign.Expiry.CUSTOM,
        expiry_days=30,
    )
    ids = run_once(campaign)
    # A lot, its ledger row and ONE lifecycle row (its activation) per reward: was four.
    assert wallet_rows() == 3 * len(ids)
    assert set(LotDue.objects.values_list("step", flat=True)) == {"activate"}
    # The ledger row keeps the movement; what the credit is about is read through its lot.
    txn = selectors.transaction_search(wallet=campaign.wallet).first()
    assert (txn.kind, txn.description, txn.metadata) == ("SCHEDULED", "", {})
    assert (txn.campaign, txn.occurrence, txn.full_description) == (campaign, "run:1", campaign.name)

    clock.advance(days=1)
    assert services.lots_activate_due() == len(ids)
    assert LotDue.objects.count() == len(ids) and set(LotDue.objects.values_list("step", flat=True)) == {"expire"}
    profile = campaign.custom_list.members.first().profile
    assert selectors.wallet_balances(profile=profile, wallet=campaign.wallet).active == D(100)

    services.wallet_debit(wallet=campaign.wallet, profile=profile, points=D(40), source="API")
    clock.advance(days=30)
    assert services.lots_expire_due() == len(ids)
    assert not LotDue.objects.exists()
    assert selectors.wallet_balances(profile=profile, wallet=campaign.wallet).expired == D(60)
    for member in campaign.custom_list.members.select_related("profile"):
        assert selectors.ledger_balances(profile=member.profile, wallet=campaign.wallet) == selectors.wallet_balances(
            profile=member.profile, wallet=campaign.wallet
        )


def test_an_immediate_run_of_a_never_expiring_wallet_writes_two_wallet_rows_per_reward():
    campaign = campaign_past(members=3)
    ids = run_once(campaign)
    assert wallet_rows() == 2 * len(ids)  # nothing left for the jobs


def test_the_transactions_page_and_the_api_still_name_the_campaign_and_its_description(marketer_client):
    campaign = campaign_past(members=1)
    run_once(campaign)
    html = marketer_client.get(f"/wallets/{campaign.wallet.pk}/transactions/").content.decode()
    assert f"Promo campaign · {campaign.name}" in html
    txn = Transaction.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("SELECT wallets_transaction_payloads(ARRAY[%s]::bigint[])", [txn.pk])
        (payload,) = cursor.fetchone()
    payload = payload if isinstance(payload, dict) else json.loads(payload)
    assert (payload["campaignId"], payload["occurrence"], payload["description"]) == (
        campaign.pk,
        "run:1",
        campaign.name,
    )


def test_the_migration_keeps_one_step_per_lot_and_loses_no_scheduled_step(clock):
    wallet = WalletFactory()
    profiles = ProfileFactory.create_batch(3)
    soon, later = clock.now + datetime.timedelta(hours=1), clock.now + datetime.timedelta(days=2)
    promised_expiring, active_expiring, promised_forever = (
        services.wallet_credit(wallet=wallet, profile=p, points=D(5), source="API", **kw)
        for p, kw in zip(
            profiles,
            [
                {"activates_at": soon, "expires_at": later},
                {"expires_at": later},
                {"activates_at": soon, "expires_at": services.NEVER_EXPIRES},
            ],
            strict=True,
        )
    )
    # The rows the old code wrote: both steps of the promised, expiring lot.
    LotDue.objects.create(step="expire", due_at=later, lot=promised_expiring)
    two_rows = {
        ("activate", promised_expiring.pk),
        ("expire", promised_expiring.pk),
        ("expire", active_expiring.pk),
        ("activate", promised_forever.pk),
    }
    assert set(LotDue.objects.values_list("step", "lot_id")) == two_rows

    with connection.cursor() as cursor:
        cursor.execute(MIGRATION.ONE_STEP_PER_LOT)
    assert set(LotDue.objects.values_list("step", "lot_id")) == two_rows - {("expire", promised_expiring.pk)}
    with connection.cursor() as cursor:  # backwards, and forwards again
        cursor.execute(MIGRATION.TWO_STEPS_PER_LOT)
    assert set(LotDue.objects.values_list("step", "lot_id")) == two_rows
    with connection.cursor() as cursor:
        cursor.execute(MIGRATION.ONE_STEP_PER_LOT)

    clock.advance(hours=1)
    assert services.lots_activate_due() == 2
    assert set(LotDue.objects.values_list("step", "due_at", "lot_id")) == {
        ("expire", later, promised_expiring.pk),  # the step the migration dropped is back, on time
        ("expire", later, active_expiring.pk),
    }
    clock.advance(days=2)
    assert services.lots_expire_due() == 2
    assert set(Transaction.objects.filter(kind="EXPIRED").values_list("lot_id", flat=True)) == {
        promised_expiring.pk,
        active_expiring.pk,
    }
