"""Credits, debits, adjustments and bulk credits: the ledger rules of SPEC 3.1 and 6.2."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from tests.factories import UserFactory
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import CampaignFactory, WalletFactory
from wallets import selectors, services
from wallets.models import Consumption, Lot, LotDue, Transaction, Wallet

pytestmark = pytest.mark.django_db

D = Decimal


def credit(wallet, profile, points, **kwargs):
    return services.wallet_credit(wallet=wallet, profile=profile, points=D(points), source="API", **kwargs)


def debit(wallet, profile, points, **kwargs):
    return services.wallet_debit(wallet=wallet, profile=profile, points=D(points), source="API", **kwargs)


def test_wallet_credit_immediate_writes_an_active_lot_and_a_credit_row():
    wallet, profile = WalletFactory(), ProfileFactory()
    lot = credit(wallet, profile, "10.5", description="Welcome", metadata={"k": "v"})
    assert (lot.amount, lot.remaining) == (D("10.5"), D("10.5"))
    assert not LotDue.objects.exists()  # nothing left for the jobs: active now, the wallet never expires
    txn = Transaction.objects.get()
    assert (txn.kind, txn.source, txn.points, txn.lot) == ("CREDIT", "API", D("10.5"), lot)
    # The credit's description and metadata are its lot's; the ledger row reads them there.
    assert (txn.full_description, txn.full_metadata) == ("Welcome", {"k": "v"})
    assert (txn.description, txn.metadata) == ("", {})
    assert selectors.wallet_balances(profile=profile, wallet=wallet).active == D("10.5")


def test_wallet_credit_with_activation_delay_is_promised_until_activation(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    lot = credit(wallet, profile, 10, activates_at=clock.now + datetime.timedelta(days=3))
    assert Transaction.objects.get().kind == "SCHEDULED"
    balances = selectors.wallet_balances(profile=profile, wallet=wallet)
    assert (balances.promised, balances.active, balances.credited) == (D(10), D(0), D(10))
    with pytest.raises(ValidationError):
        debit(wallet, profile, 1)
    # Activation exactly now: spendable, even though the job has not run.
    clock.set(lot.activates_at)
    balances = selectors.wallet_balances(profile=profile, wallet=wallet)
    assert (balances.promised, balances.active) == (D(0), D(10))
    debit(wallet, profile, 4)
    assert Lot.objects.get().remaining == D(6)


def test_points_are_not_spendable_at_the_instant_they_expire_even_if_the_job_is_late(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(hours=1))
    clock.advance(minutes=59, seconds=59)
    assert selectors.wallet_balances(profile=profile, wallet=wallet).active == D(10)
    clock.advance(seconds=1)  # expiry exactly now
    balances = selectors.wallet_balances(profile=profile, wallet=wallet)
    assert (balances.active, balances.expired) == (D(0), D(10))
    with pytest.raises(ValidationError) as exc:
        debit(wallet, profile, 1)
    assert exc.value.message_dict == {"points": [services.ERR_INSUFFICIENT_BALANCE]}


def test_wallet_credit_refuses_an_expiry_not_after_activation_and_an_inactive_wallet(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    with pytest.raises(ValidationError) as exc:
        credit(wallet, profile, 1, activates_at=clock.now, expires_at=clock.now)
    assert exc.value.message_dict == {"expires_at": [services.ERR_EXPIRY_BEFORE_ACTIVATION]}
    inactive = WalletFactory(is_active=False)
    with pytest.raises(ValidationError) as exc:
        credit(inactive, profile, 1)
    assert exc.value.message_dict == {"wallet": [services.ERR_WALLET_INACTIVE]}
    assert not Lot.objects.exists()


@pytest.mark.parametrize("points", ["0", "-1", "0.0001"])
def test_wallet_credit_and_debit_refuse_non_positive_points(points):
    wallet, profile = WalletFactory(), ProfileFactory()
    for move in (credit, debit):
        with pytest.raises(ValidationError) as exc:
            move(wallet, profile, points)
        assert exc.value.message_dict == {"points": [services.ERR_POINTS_NOT_POSITIVE]}
    assert not Transaction.objects.exists()


def test_wallet_debit_refuses_more_than_the_active_balance_and_changes_nothing(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 5)
    credit(wallet, profile, 100, activates_at=clock.now + datetime.timedelta(days=1))  # promised: not spendable
    with pytest.raises(ValidationError) as exc:
        debit(wallet, profile, "5.001")
    assert exc.value.message_dict == {"points": [services.ERR_INSUFFICIENT_BALANCE]}
    assert not Transaction.objects.filter(kind="DEBIT").exists()
    assert sorted(Lot.objects.values_list("remaining", flat=True)) == [D(5), D(100)]
    txn = debit(wallet, profile, 5)
    assert txn.kind == "DEBIT" and Lot.objects.get(amount=5).remaining == 0


def test_wallet_debit_earliest_expiry_first(clock):
    wallet, profile = WalletFactory(consumption_order=Wallet.ConsumptionOrder.EARLIEST_EXPIRY), ProfileFactory()
    never = credit(wallet, profile, 10)
    late = credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=30))
    soon = credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=2))
    txn = debit(wallet, profile, 15)
    remaining = {lot.pk: lot.remaining for lot in Lot.objects.all()}
    assert remaining == {soon.pk: D(0), late.pk: D(5), never.pk: D(10)}
    assert sorted(Consumption.objects.filter(transaction=txn).values_list("lot_id", "points")) == sorted(
        [(soon.pk, D(10)), (late.pk, D(5))]
    )


def test_wallet_debit_earliest_issuance_first(clock):
    wallet, profile = WalletFactory(consumption_order=Wallet.ConsumptionOrder.EARLIEST_ISSUANCE), ProfileFactory()
    first = credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=30))
    clock.advance(seconds=1)
    second = credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=2))
    debit(wallet, profile, 12)
    assert Lot.objects.get(pk=first.pk).remaining == 0
    assert Lot.objects.get(pk=second.pk).remaining == D(8)


def test_wallet_credit_idempotency_key_moves_points_once():
    wallet, profile = WalletFactory(), ProfileFactory()
    first = credit(wallet, profile, 10, idempotency_key="k1")
    again = credit(wallet, profile, 10, idempotency_key="k1")
    assert first.pk == again.pk
    assert Lot.objects.count() == 1 and Transaction.objects.count() == 1


def test_wallet_debit_idempotency_key_moves_points_once():
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10)
    first = debit(wallet, profile, 4, idempotency_key="d1")
    again = debit(wallet, profile, 4, idempotency_key="d1")
    assert first.pk == again.pk
    assert Lot.objects.get().remaining == D(6)


def test_wallet_credit_once_per_campaign_profile_occurrence():
    wallet, profile, campaign = WalletFactory(), ProfileFactory(), CampaignFactory()
    lot = credit(wallet, profile, 10, campaign=campaign, occurrence="run:1")
    assert credit(wallet, profile, 10, campaign=campaign, occurrence="run:1").pk == lot.pk
    other = credit(wallet, profile, 10, campaign=campaign, occurrence="run:2")
    assert other.pk != lot.pk
    assert Lot.objects.count() == 2


def test_database_refuses_negative_or_excess_remaining_and_duplicate_occurrences():
    wallet, profile, campaign = WalletFactory(), ProfileFactory(), CampaignFactory()
    lot = credit(wallet, profile, 10, campaign=campaign, occurrence="run:1")
    for remaining in (D(-1), D(11)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Lot.objects.filter(pk=lot.pk).update(remaining=remaining)
    with pytest.raises(IntegrityError), transaction.atomic():
        Lot.objects.create(
            wallet=wallet,
            profile=profile,
            amount=1,
            remaining=1,
            source="CAMPAIGN",
            campaign=campaign,
            occurrence="run:1",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(wallet=wallet, profile=profile, kind="CREDIT", source="API", points=0)
    Transaction.objects.create(
        wallet=wallet, profile=profile, kind="CREDIT", source="API", points=1, idempotency_key="x"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Transaction.objects.create(
            wallet=wallet, profile=profile, kind="CREDIT", source="API", points=1, idempotency_key="x"
        )


def test_the_ledger_is_append_only_in_the_database():
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10)
    txn = Transaction.objects.get()
    for statement in (
        f"UPDATE wallets_transaction SET points = 99 WHERE id = {txn.pk}",  # noqa: S608
        f"DELETE FROM wallets_transaction WHERE id = {txn.pk}",  # noqa: S608
    ):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert Transaction.objects.get().points == D(10)


def test_wallet_adjust_credit_and_debit_record_the_actor():
    wallet, profile, user = WalletFactory(), ProfileFactory(), UserFactory()
    credit_txn = services.wallet_adjust(
        wallet=wallet, profile=profile, kind="CREDIT", points=D(20), description=" Goodwill ", actor=user
    )
    debit_txn = services.wallet_adjust(
        wallet=wallet, profile=profile, kind="DEBIT", points=D(5), description="Correction", actor=user
    )
    assert (credit_txn.kind, credit_txn.source, credit_txn.actor, credit_txn.full_description) == (
        "CREDIT",
        "MANUAL",
        user,
        "Goodwill",
    )
    assert (debit_txn.kind, debit_txn.actor) == ("DEBIT", user)
    assert selectors.wallet_balances(profile=profile, wallet=wallet).active == D(15)


def test_wallet_adjust_requires_a_description_and_a_kind():
    wallet, profile, user = WalletFactory(), ProfileFactory(), UserFactory()
    with pytest.raises(ValidationError) as exc:
        services.wallet_adjust(wallet=wallet, profile=profile, kind="CREDIT", points=D(1), description="  ", actor=user)
    assert exc.value.message_dict == {"description": [services.ERR_DESCRIPTION_REQUIRED]}
    with pytest.raises(ValidationError) as exc:
        services.wallet_adjust(wallet=wallet, profile=profile, kind="REFUND", points=D(1), description="x", actor=user)
    assert exc.value.message_dict == {"kind": [services.ERR_KIND]}


def test_wallet_balances_without_a_wallet_lists_every_wallet_of_the_profile():
    a, b, profile = WalletFactory(), WalletFactory(), ProfileFactory()
    credit(a, profile, 3)
    credit(b, profile, 4)
    debit(b, profile, 1)
    balances = selectors.wallet_balances(profile=profile)
    assert balances[a.pk].active == D(3)
    assert (balances[b.pk].active, balances[b.pk].redeemed, balances[b.pk].credited) == (D(3), D(1), D(4))


def test_wallet_update_never_changes_the_expiry_rule_and_records_history():
    user = UserFactory()
    wallet = services.wallet_create(actor=user, name="Coins", points_name="Coins")
    services.wallet_update(wallet=wallet, actor=user, points_name="Supercoins")
    with pytest.raises(ValidationError) as exc:
        services.wallet_update(wallet=wallet, actor=user, expiry_kind="after")
    assert exc.value.message_dict == {"expiry_kind": [services.ERR_EXPIRY_RULE_FROZEN]}
    wallet.refresh_from_db()
    assert (wallet.points_name, wallet.expiry_kind) == ("Supercoins", "never")
    actions = list(wallet.changes.order_by("pk").values_list("action", "changes"))
    assert actions[0][0] == "created"
    assert actions[1] == ("updated", {"points_name": ["Coins", "Supercoins"]})


# --- Bulk credit ----------------------------------------------------------------------------


def test_wallet_credit_bulk_twice_for_the_same_occurrence_credits_once():
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(5)]
    assert services.wallet_credit_bulk(
        wallet=wallet, profile_ids=ids, points=D("7.5"), campaign=campaign, occurrence="run:1"
    ) == sorted(ids)
    assert (
        services.wallet_credit_bulk(
            wallet=wallet, profile_ids=ids, points=D("7.5"), campaign=campaign, occurrence="run:1"
        )
        == []
    )
    assert Lot.objects.count() == 5
    assert Transaction.objects.filter(kind="CREDIT", source="CAMPAIGN", lot__campaign=campaign).count() == 5
    assert services.wallet_credit_bulk(
        wallet=wallet, profile_ids=ids[:2], points=D(1), campaign=campaign, occurrence="run:2"
    ) == sorted(ids[:2])


def test_wallet_credit_bulk_per_profile_points_rounded_unknown_ids_skipped_duplicates_once():
    wallet = WalletFactory(rounding_places=0, rounding_mode="up")
    campaign = CampaignFactory()
    a, b = ProfileFactory(), ProfileFactory()
    credited = services.wallet_credit_bulk(
        wallet=wallet,
        profile_ids=[a.pk, b.pk, a.pk, 987654321],
        points={a.pk: D("1.2"), b.pk: D("3"), 987654321: D(1)},
        campaign=campaign,
        occurrence="event:9",
    )
    assert credited == sorted([a.pk, b.pk])
    assert dict(Lot.objects.values_list("profile_id", "amount")) == {a.pk: D(2), b.pk: D(3)}


def test_wallet_credit_bulk_with_activation_delay_schedules(clock):
    wallet, campaign, profile = WalletFactory(), CampaignFactory(), ProfileFactory()
    services.wallet_credit_bulk(
        wallet=wallet,
        profile_ids=[profile.pk],
        points=D(5),
        campaign=campaign,
        occurrence="run:1",
        activates_at=clock.now + datetime.timedelta(hours=2),
    )
    assert Transaction.objects.get().kind == "SCHEDULED"
    assert selectors.wallet_balances(profile=profile, wallet=wallet).promised == D(5)


def test_wallet_credit_bulk_query_count_does_not_grow_with_profiles(django_assert_max_num_queries, monkeypatch):
    wallet, campaign = WalletFactory(), CampaignFactory()
    monkeypatch.setattr(services.bulk_credit, "BULK_CHUNK", 1000)
    from segments.models import Profile

    Profile.objects.bulk_create(Profile(identity=f"bulk-{n}") for n in range(2500))
    ids = list(Profile.objects.values_list("pk", flat=True))
    # 3 chunks of ≤ 1000 → 3 statements, each in its savepoint with its set-based FK locks
    # (core/db.py: SET, lock, statement, SET), plus the account timezone read.
    with django_assert_max_num_queries(20):
        assert (
            len(
                services.wallet_credit_bulk(
                    wallet=wallet, profile_ids=ids, points=D(1), campaign=campaign, occurrence="r"
                )
            )
            == 2500
        )
    small = ids[:10]
    with django_assert_max_num_queries(9):
        services.wallet_credit_bulk(wallet=wallet, profile_ids=small, points=D(1), campaign=campaign, occurrence="s")


def test_wallet_credit_bulk_rounds_skips_unknown_profiles_and_owes_the_jobs_their_steps(clock):
    wallet, campaign = WalletFactory(rounding_places=1), CampaignFactory()
    profiles = ProfileFactory.create_batch(3)
    ids = [p.pk for p in profiles] + [10**12]
    activates, expires = clock.now + datetime.timedelta(hours=1), clock.now + datetime.timedelta(days=1)
    credited = services.wallet_credit_bulk(
        wallet=wallet,
        profile_ids=ids,
        points=D("2.25"),
        campaign=campaign,
        occurrence="x",
        activates_at=activates,
        expires_at=expires,
    )
    assert credited == [p.pk for p in profiles]
    assert sorted(Lot.objects.values_list("profile_id", "amount", "campaign_id", "wallet_id")) == [
        (p.pk, D("2.2"), campaign.pk, wallet.pk) for p in profiles
    ]
    assert Transaction.objects.filter(kind="SCHEDULED", points=D("2.2"), lot__isnull=False).count() == 3
    lot_ids = set(Lot.objects.values_list("pk", flat=True))
    # One pending step per lot, its next one: the activation (the expiry is scheduled by it).
    assert sorted(LotDue.objects.values_list("step", "due_at", "lot_id")) == sorted(
        ("activate", activates, lot_id) for lot_id in lot_ids
    )
    clock.advance(hours=1)
    assert services.lots_activate_due() == 3
    assert sorted(LotDue.objects.values_list("step", "due_at", "lot_id")) == sorted(
        ("expire", expires, lot_id) for lot_id in lot_ids
    )
    clock.advance(days=1)
    assert services.lots_expire_due() == 3
    assert not LotDue.objects.exists()
    for profile in profiles:
        assert selectors.ledger_balances(profile=profile, wallet=wallet) == selectors.wallet_balances(
            profile=profile, wallet=wallet
        )
        assert selectors.wallet_balances(profile=profile, wallet=wallet).expired == D("2.2")


def test_wallet_credit_bulk_never_expires_overrides_the_wallet_default(clock):
    wallet = WalletFactory(expiry_kind=Wallet.ExpiryKind.AFTER, expiry_value=30, expiry_unit=Wallet.ExpiryUnit.DAYS)
    campaign, profile = CampaignFactory(), ProfileFactory()
    services.wallet_credit_bulk(wallet=wallet, profile_ids=[profile.pk], points=D(5), campaign=campaign, occurrence="a")
    services.wallet_credit_bulk(
        wallet=wallet,
        profile_ids=[profile.pk],
        points=D(7),
        campaign=campaign,
        occurrence="b",
        expires_at=services.NEVER_EXPIRES,
    )
    expiries = dict(Lot.objects.values_list("occurrence", "expires_at"))
    assert expiries == {"a": clock.now + datetime.timedelta(days=30), "b": None}
    clock.advance(days=31)
    assert services.lots_expire_due() == 1  # only the wallet-default lot expires
    assert selectors.wallet_balances(profile=profile, wallet=wallet).active == D(7)
    assert selectors.ledger_balances(profile=profile, wallet=wallet).active == D(7)


def test_wallet_credit_bulk_needs_an_active_wallet_and_positive_points():
    campaign, profile = CampaignFactory(), ProfileFactory()
    with pytest.raises(ValidationError):
        services.wallet_credit_bulk(
            wallet=WalletFactory(is_active=False),
            profile_ids=[profile.pk],
            points=D(1),
            campaign=campaign,
            occurrence="r",
        )
    with pytest.raises(ValidationError):
        services.wallet_credit_bulk(
            wallet=WalletFactory(),
            profile_ids=[profile.pk],
            points={profile.pk: D(0)},
            campaign=campaign,
            occurrence="r",
        )
    assert not Lot.objects.exists()
