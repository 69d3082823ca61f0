"""Activation and expiry sweeps: on time, set-based, idempotent; beat entries in the database."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from tests.segments.factories import ProfileFactory
from tests.wallets.factories import WalletFactory
from wallets import selectors, services, tasks
from wallets.models import LotDue, Transaction

pytestmark = pytest.mark.django_db

D = Decimal


def pending_steps():
    return set(LotDue.objects.values_list("step", "lot_id"))


def credit(wallet, profile, points, **kwargs):
    return services.wallet_credit(wallet=wallet, profile=profile, points=D(points), source="API", **kwargs)


def test_lots_activate_due_activates_exactly_the_due_lots(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    due = credit(wallet, profile, 10, activates_at=clock.now + datetime.timedelta(hours=1))
    later = credit(wallet, profile, 5, activates_at=clock.now + datetime.timedelta(hours=1, seconds=1))
    clock.advance(hours=1)  # `due` activates exactly now
    assert services.lots_activate_due() == 1
    assert services.lots_activate_due() == 0  # running twice changes nothing
    assert pending_steps() == {("activate", later.pk)}
    activated = Transaction.objects.get(kind="ACTIVATED")
    assert (activated.lot_id, activated.points, activated.source) == (due.pk, D(10), "SYSTEM")
    assert selectors.ledger_balances(profile=profile, wallet=wallet) == selectors.wallet_balances(
        profile=profile, wallet=wallet, at=clock.now
    )


def test_activation_records_the_full_amount_even_if_points_were_spent_before_the_job_ran(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10, activates_at=clock.now + datetime.timedelta(minutes=5))
    clock.advance(minutes=6)
    services.wallet_debit(wallet=wallet, profile=profile, points=D(4), source="API")  # job late: still spendable
    services.lots_activate_due()
    assert Transaction.objects.get(kind="ACTIVATED").points == D(10)
    assert selectors.ledger_balances(profile=profile, wallet=wallet) == selectors.wallet_balances(
        profile=profile, wallet=wallet
    )


def test_lots_expire_due_expires_the_unspent_remainder_once(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=1))
    unspent = credit(wallet, profile, 3, expires_at=clock.now + datetime.timedelta(days=1))
    kept = credit(wallet, profile, 7, expires_at=clock.now + datetime.timedelta(days=1, seconds=1))
    services.wallet_debit(wallet=wallet, profile=profile, points=D(10), source="API")  # consumes `spent`
    clock.advance(days=1)  # expiry exactly now
    assert services.lots_expire_due() == 1  # a fully spent lot needs no EXPIRED row
    assert services.lots_expire_due() == 0
    expired = Transaction.objects.get(kind="EXPIRED")
    assert (expired.lot_id, expired.points, expired.description) == (unspent.pk, D(3), "Expired points")
    assert pending_steps() == {("expire", kept.pk)}
    assert selectors.ledger_balances(profile=profile, wallet=wallet) == selectors.wallet_balances(
        profile=profile, wallet=wallet, at=clock.now
    )


def test_expiry_job_activates_a_lot_whose_activation_was_also_missed(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(
        wallet,
        profile,
        10,
        activates_at=clock.now + datetime.timedelta(hours=1),
        expires_at=clock.now + datetime.timedelta(hours=2),
    )
    clock.advance(hours=3)
    services.lots_expire_due()
    assert list(Transaction.objects.order_by("pk").values_list("kind", flat=True)) == [
        "SCHEDULED",
        "ACTIVATED",
        "EXPIRED",
    ]
    assert selectors.ledger_balances(profile=profile, wallet=wallet).expired == D(10)


def test_sweeps_handle_more_lots_than_one_chunk(clock):
    wallet = WalletFactory()
    for _ in range(7):
        credit(
            wallet,
            ProfileFactory(),
            1,
            activates_at=clock.now + datetime.timedelta(minutes=1),
            expires_at=clock.now + datetime.timedelta(minutes=2),
        )
    clock.advance(seconds=90)
    assert services.lots_activate_due(chunk=3) == 7
    clock.advance(minutes=5)
    assert services.lots_expire_due(chunk=3) == 7


def test_tasks_call_the_sweeps(clock):
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 1, activates_at=clock.now + datetime.timedelta(seconds=1))
    clock.advance(seconds=1)
    assert tasks.lots_activate_due.run() == 1
    assert tasks.lots_expire_due.run() == 0


def test_beat_entries_are_stored_in_the_database():
    import importlib

    from django.apps import apps

    # Re-apply the data migration (idempotent): a transactional test elsewhere may have flushed its rows.
    importlib.import_module("wallets.migrations.0004_beat_entries").forwards(apps, None)
    importlib.import_module("wallets.migrations.0004_beat_entries").forwards(apps, None)
    importlib.import_module("wallets.migrations.0009_wallet_expiry_notice").add_beat(apps, None)
    importlib.import_module("wallets.migrations.0015_lot_rollup_compact_beat").add_beat(apps, None)
    entries = {t.name: t for t in PeriodicTask.objects.filter(task__startswith="wallets.")}
    assert {(t.task, t.interval.every, t.interval.period, t.enabled) for t in entries.values()} == {
        ("wallets.lots_activate_due", 60, "seconds", True),
        ("wallets.lots_expire_due", 60, "seconds", True),
        # issue 20: the daily points.expiring digest, checked hourly (once per wallet and day)
        ("wallets.points_expiring_digest", 3600, "seconds", True),
        # the lot rollup's settled rows merged (a long live campaign's page stays small)
        ("wallets.lot_rollup_compact", 3600, "seconds", True),
    }


def test_a_debit_cannot_spend_what_the_expiry_job_has_already_expired(clock):
    # The debit's clock (a second before expiry) lags the job's, or it waited on the job's
    # lock: either way the lot's remainder is already recorded as expired and must stay so.
    wallet, profile = WalletFactory(), ProfileFactory()
    credit(wallet, profile, 10, expires_at=clock.now + datetime.timedelta(days=1))
    services.lots_expire_due(now=clock.now + datetime.timedelta(days=1))
    clock.advance(days=1, seconds=-1)
    with pytest.raises(ValidationError):
        services.wallet_debit(wallet=wallet, profile=profile, points=D(1), source="API")
    assert selectors.ledger_balances(profile=profile, wallet=wallet).expired == D(10)
    assert not Transaction.objects.filter(kind="DEBIT").exists()


@pytest.mark.parametrize("sql_name", ["_ACTIVATE_SQL", "_EXPIRE_SQL"])
def test_a_sweep_finds_its_steps_and_lots_by_address_and_key_whatever_the_statistics_say(sql_name):
    """The expire steps are written by the activation sweep just before the expiry sweep runs, so
    the planner's last look at the table may have counted none. A join planned for one step (a
    nested loop over a scan of every step) ran for over ten minutes on a 50,000-step chunk; the
    sweeps delete their claimed steps by ctid and read their lots by primary key instead, a plan
    that stays linear in the chunk whatever the statistics are (here: those of an empty table)."""
    from django.db import connection

    from wallets.services import lifecycle

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE wallets_lotdue")  # statistics of an empty table
        cursor.execute(
            "EXPLAIN " + getattr(lifecycle, sql_name),
            {
                "now": datetime.datetime.now(datetime.UTC),
                "limit": 50_000,
                "after_at": lifecycle._SWEEP_START,
                "after_id": 0,
            },
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # No join at all: the steps go by ctid (a TID scan on a real table), the lots by primary key.
    for join in ("Nested Loop", "Hash Join", "Merge Join"):
        assert join not in plan, plan
