"""The lot rollup (issue #18): PostgreSQL keeps `wallets_lotrollup` equal to the lots summed by
(campaign, wallet, activates_at, expires_at), so `campaign_lot_totals` reads it instead of every
lot of the campaign and still gives the lots' numbers at any moment."""

import contextlib
import datetime
import threading
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promotions.models import Campaign
from segments.models import Profile
from tests.segments.factories import ProfileFactory
from tests.wallets.factories import CampaignFactory, WalletFactory
from wallets import selectors, services
from wallets.models import Lot, LotRollup, Wallet

pytestmark = pytest.mark.django_db

D = Decimal
KEY = ("campaign_id", "wallet_id", "activates_at", "expires_at")


def lot_totals(*, campaign_id, at) -> selectors.Balances:
    """The aggregate of the campaign's lots themselves (what campaign_lot_totals read before the rollup)."""
    lots = Lot.objects.filter(campaign_id=campaign_id)
    return selectors.Balances(**lots.aggregate(**selectors._bucket_aggregates(at)))


def rollup_by_key() -> dict:
    """The rollup's shards summed per key, keys whose sums are all zero left out."""
    rows = LotRollup.objects.values(*KEY).annotate(n=Sum("lots"), amount=Sum("amount"), remaining=Sum("remaining"))
    return {tuple(r[k] for k in KEY): (r["n"], r["amount"], r["remaining"]) for r in rows if r["n"] or r["amount"]}


def lots_by_key() -> dict:
    rows = Lot.objects.values(*KEY).annotate(n=Count("id"), total=Sum("amount"), left=Sum("remaining")).order_by()
    return {tuple(r[k] for k in KEY): (r["n"], r["total"], r["left"]) for r in rows}


# --- Property: the rollup is the lots, summed, after any sequence of movements ------------------

points = st.decimals(min_value=D("0.001"), max_value=D("300"), places=3)
delay = st.sampled_from([0, 0, 5, 30, 90])  # minutes until activation (0: active at once)
life = st.sampled_from([None, 10, 45, 200])  # minutes from activation to expiry (None: never)
operation = st.one_of(
    # A run chunk: one wallet_credit_bulk over some of the profiles.
    st.tuples(st.just("bulk"), st.integers(0, 1), st.sets(st.integers(0, 2), min_size=1), points, delay, life),
    # A live batch: one wallet_credit_each, each row its own occurrence and points.
    st.tuples(
        st.just("each"),
        st.integers(0, 1),
        st.lists(st.tuples(st.integers(0, 2), points), min_size=1, max_size=4),
        delay,
        life,
    ),
    # A manual (campaign-less) credit in the same wallet.
    st.tuples(st.just("manual"), st.integers(0, 2), points, delay, life),
    st.tuples(st.just("debit"), st.integers(0, 2), points),
    st.tuples(st.just("advance"), st.integers(1, 120)),
    st.tuples(st.just("activate")),
    st.tuples(st.just("expire")),
)
# Moments the totals are compared at, in minutes from the start: before, during and after every lifecycle.
moments = st.lists(st.integers(-10, 600), min_size=1, max_size=4)


def _lifecycle(minutes_delay, minutes_life):
    activates_at = timezone.now() + datetime.timedelta(minutes=minutes_delay) if minutes_delay else None
    if minutes_life is None:
        return activates_at, services.NEVER_EXPIRES
    return activates_at, (activates_at or timezone.now()) + datetime.timedelta(minutes=minutes_life)


def _apply(clock, n, op, wallet, campaigns, profiles):
    """One generated operation: a credit of some kind, a debit, time passing or a lifecycle job."""
    if op[0] == "bulk":
        _, c, who, amount, wait, lasts = op
        activates_at, expires_at = _lifecycle(wait, lasts)
        services.wallet_credit_bulk(
            wallet=wallet,
            profile_ids=[profiles[i].pk for i in who],
            points=amount,
            campaign=campaigns[c],
            occurrence=f"run:{n}",
            activates_at=activates_at,
            expires_at=expires_at,
        )
    elif op[0] == "each":
        _, c, rows, wait, lasts = op
        activates_at, expires_at = _lifecycle(wait, lasts)
        services.wallet_credit_each(
            wallet=wallet,
            credits=[(profiles[i].pk, f"event:{n}:{k}", amount) for k, (i, amount) in enumerate(rows)],
            campaign=campaigns[c],
            activates_at=activates_at,
            expires_at=expires_at,
        )
    elif op[0] == "manual":
        _, i, amount, wait, lasts = op
        activates_at, expires_at = _lifecycle(wait, lasts)
        services.wallet_credit(
            wallet=wallet,
            profile=profiles[i],
            points=amount,
            source="API",
            activates_at=activates_at,
            expires_at=expires_at,
        )
    elif op[0] == "debit":
        # Consumes the profile's lots of every campaign and the manual ones, FIFO.
        with contextlib.suppress(ValidationError):
            services.wallet_debit(wallet=wallet, profile=profiles[op[1]], points=op[2], source="API")
    elif op[0] == "advance":
        clock.advance(minutes=op[1])
    elif op[0] == "activate":
        services.lots_activate_due()
    elif op[0] == "expire":
        services.lots_expire_due()
    else:
        services.lot_rollup_compact()


@contextlib.contextmanager
def _example(clock, order):
    """One generated example's world (a wallet, two campaigns, three profiles), undone afterwards
    so the next example starts from empty tables and the clock where it was."""
    start = clock.now
    try:
        with transaction.atomic():
            wallet = Wallet.objects.create(name="Prop", points_name="P", rounding_places=3, consumption_order=order)
            campaigns = [Campaign.objects.create(name=f"C{n}", wallet=wallet) for n in range(2)]
            profiles = [Profile.objects.create(identity=f"prop-{n}") for n in range(3)]
            yield wallet, campaigns, profiles
            raise _Rollback
    except _Rollback:
        pass
    finally:
        clock.set(start)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(operation, min_size=1, max_size=20),
    at=moments,
    order=st.sampled_from(list(Wallet.ConsumptionOrder)),
)
def test_campaign_lot_totals_from_the_rollup_equal_the_lots_at_any_moment(clock, ops, at, order):
    start = clock.now
    with _example(clock, order) as (wallet, campaigns, profiles):
        for n, op in enumerate(ops):
            _apply(clock, n, op, wallet, campaigns, profiles)
        assert rollup_by_key() == lots_by_key()
        for minutes in at:
            moment = start + datetime.timedelta(minutes=minutes)
            for campaign in campaigns:
                rolled = selectors.campaign_lot_totals(campaign_id=campaign.pk, at=moment)
                assert rolled == lot_totals(campaign_id=campaign.pk, at=moment)
                assert rolled.credited == rolled.promised + rolled.active + rolled.expired + rolled.redeemed
            assert selectors.campaign_lot_totals(campaign_id=campaigns[0].pk) == lot_totals(
                campaign_id=campaigns[0].pk, at=timezone.now()
            )


class _Rollback(Exception):
    """Undo each example's rows so the next example starts from empty tables."""


# --- Compaction: settled rows merged, every later total unchanged ----------------------------------


def _sums_by_campaign_and_wallet(rows, count) -> dict:
    sums = rows.values("campaign_id", "wallet_id").annotate(n=count, a=Sum("amount"), r=Sum("remaining"))
    return {(x["campaign_id"], x["wallet_id"]): (x["n"], x["a"], x["r"]) for x in sums.order_by()}


def _settled_unmerged(now) -> int:
    from django.db.models import Q

    settled = Q(expires_at__lte=now) | Q(expires_at__isnull=True, activates_at__lte=now)
    return LotRollup.objects.filter(settled).exclude(activates_at=services.rollups.SETTLED_AT).count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ops=st.lists(st.one_of(operation, st.tuples(st.just("compact"))), min_size=1, max_size=24),
    later=st.lists(st.integers(0, 600), min_size=1, max_size=3),
    order=st.sampled_from(list(Wallet.ConsumptionOrder)),
)
def test_compacting_the_settled_rows_keeps_every_total_from_then_on(clock, ops, later, order):
    with _example(clock, order) as (wallet, campaigns, profiles):
        for n, op in enumerate(ops):
            _apply(clock, n, op, wallet, campaigns, profiles)
            for campaign in campaigns:  # compacted or not, the page's numbers now are the lots'
                assert selectors.campaign_lot_totals(campaign_id=campaign.pk) == lot_totals(
                    campaign_id=campaign.pk, at=timezone.now()
                )
        rows_before = LotRollup.objects.count()
        services.lot_rollup_compact()
        assert _settled_unmerged(timezone.now()) == 0
        assert LotRollup.objects.count() <= rows_before
        assert _sums_by_campaign_and_wallet(LotRollup.objects.all(), Sum("lots")) == (
            _sums_by_campaign_and_wallet(Lot.objects.all(), Count("id"))
        )
        for minutes in [0, *later]:
            moment = timezone.now() + datetime.timedelta(minutes=minutes)
            for campaign in campaigns:
                assert selectors.campaign_lot_totals(campaign_id=campaign.pk, at=moment) == lot_totals(
                    campaign_id=campaign.pk, at=moment
                )


def test_a_long_live_campaign_keeps_a_few_rollup_rows_once_its_batches_settle(clock):
    """Sixty live batches, each its own rollup row; an hour on, those whose points expired or
    became active for good are two rows, and the campaign page's numbers are the same."""
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(3)]
    for minute in range(60):
        expires = None if minute % 2 else timezone.now() + datetime.timedelta(minutes=30)
        services.wallet_credit_each(
            wallet=wallet,
            credits=[(pk, f"event:{minute}:{pk}", D(2)) for pk in ids],
            campaign=campaign,
            expires_at=expires or services.NEVER_EXPIRES,
        )
        clock.advance(minutes=1)
    services.wallet_debit(wallet=wallet, profile=Profile.objects.get(pk=ids[0]), points=D(5), source="API")
    clock.advance(minutes=60)
    # Two batches not settled: one activates tomorrow (never expires), one expires in an hour.
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    services.wallet_credit_each(
        wallet=wallet,
        credits=[(ids[1], "event:late", D(7))],
        campaign=campaign,
        activates_at=tomorrow,
        expires_at=services.NEVER_EXPIRES,
    )
    in_an_hour = timezone.now() + datetime.timedelta(hours=1)
    services.wallet_credit_each(
        wallet=wallet, credits=[(ids[2], "event:soon", D(11))], campaign=campaign, expires_at=in_an_hour
    )
    before = selectors.campaign_lot_totals(campaign_id=campaign.pk)
    assert LotRollup.objects.filter(campaign_id=campaign.pk).count() >= 60

    removed = services.lot_rollup_compact()

    rows = LotRollup.objects.filter(campaign_id=campaign.pk)
    assert {(r.activates_at, r.expires_at) for r in rows} == {
        (services.rollups.SETTLED_AT, services.rollups.SETTLED_AT),  # the expired batches
        (services.rollups.SETTLED_AT, None),  # the batches active for good
        (tomorrow, None),  # promised: becomes active tomorrow
        (rows.get(expires_at=in_an_hour).activates_at, in_an_hour),  # active until it expires
    }
    assert removed >= 58
    assert (
        selectors.campaign_lot_totals(campaign_id=campaign.pk)
        == before
        == lot_totals(campaign_id=campaign.pk, at=timezone.now())
    )
    assert before.credited == D(378) and before.promised == D(7)
    assert before.expired > 0 and before.active > 0 and before.redeemed == D(5)
    tomorrow_totals = selectors.campaign_lot_totals(campaign_id=campaign.pk, at=tomorrow)
    assert tomorrow_totals == lot_totals(campaign_id=campaign.pk, at=tomorrow)
    assert tomorrow_totals.promised == 0 and tomorrow_totals.expired == before.expired + D(11)
    assert services.lot_rollup_compact() == 0  # nothing left to merge


# --- What one credit call writes -----------------------------------------------------------------


def test_a_bulk_credit_adds_one_rollup_row_for_its_lots():
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(30)]
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(5), campaign=campaign, occurrence="r")
    (row,) = LotRollup.objects.all()
    assert (row.campaign_id, row.wallet_id, row.lots, row.amount, row.remaining) == (
        campaign.pk,
        wallet.pk,
        30,
        D(150),
        D(150),
    )
    lot = Lot.objects.first()
    assert (row.activates_at, row.expires_at) == (lot.activates_at, lot.expires_at)
    # Credited again: the occurrence's lots exist already, nothing is inserted, nothing added.
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(5), campaign=campaign, occurrence="r")
    assert rollup_by_key() == lots_by_key()


def test_a_debit_moves_remaining_of_each_key_it_consumes_and_credited_stays(clock):
    wallet, campaign, profile = WalletFactory(), CampaignFactory(), ProfileFactory()
    services.wallet_credit_bulk(
        wallet=wallet, profile_ids=[profile.pk], points=D(10), campaign=campaign, occurrence="a"
    )
    clock.advance(minutes=1)
    services.wallet_credit(wallet=wallet, profile=profile, points=D(10), source="API")
    services.wallet_debit(wallet=wallet, profile=profile, points=D(14), source="API")
    totals = selectors.campaign_lot_totals(campaign_id=campaign.pk)
    assert (totals.active, totals.redeemed, totals.credited) == (D(0), D(10), D(10))
    assert rollup_by_key() == lots_by_key()
    manual = LotRollup.objects.filter(campaign=None).aggregate(left=Sum("remaining"))["left"]
    assert manual == D(6)


def test_rebuild_recounts_what_the_triggers_missed():
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(5)]
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(3), campaign=campaign, occurrence="r")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE wallets_lot DISABLE TRIGGER wallets_lot_rollup_insert")
        services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(4), campaign=campaign, occurrence="s")
        cursor.execute("ALTER TABLE wallets_lot ENABLE ALWAYS TRIGGER wallets_lot_rollup_insert")
        assert rollup_by_key() != lots_by_key()
        cursor.execute("SELECT wallets_lot_rollup_rebuild()")
    assert rollup_by_key() == lots_by_key()
    assert selectors.campaign_lot_totals(campaign_id=campaign.pk).credited == D(35)


def test_a_lot_deleted_with_the_refusal_silenced_leaves_the_rollup():
    """Lots are permanent, but `session_replication_role = replica` silences the refusal
    trigger; the rollup trigger fires ALWAYS and subtracts the lot."""
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(3)]
    services.wallet_credit_bulk(wallet=wallet, profile_ids=ids, points=D(2), campaign=campaign, occurrence="r")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM wallets_lot WHERE profile_id = %s", [ids[0]])
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert rollup_by_key() == lots_by_key()
    assert selectors.campaign_lot_totals(campaign_id=campaign.pk).credited == D(4)


# --- Concurrency ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transactions_crediting_one_key_are_both_counted():
    """Two transactions on the same rollup row (same key, same shard), both open at once: the
    second's upsert waits for the first to commit, then adds to it."""
    wallet, campaign = WalletFactory(), CampaignFactory()
    ids = [ProfileFactory().pk for _ in range(40)]
    activates_at = timezone.now() + datetime.timedelta(days=1)
    expires_at = activates_at + datetime.timedelta(days=30)
    barrier = threading.Barrier(2)
    shards, errors = [], []

    def credit(i):
        try:
            while True:  # a transaction whose id falls in shard 0, so both write the same row
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT txid_current() % 4")
                        if cursor.fetchone()[0] != 0:
                            continue
                    shards.append(0)
                    barrier.wait(timeout=30)
                    services.wallet_credit_bulk(
                        wallet=wallet,
                        profile_ids=ids[i * 20 : (i + 1) * 20],
                        points=D(i + 1),
                        campaign=campaign,
                        occurrence="run:1",
                        activates_at=activates_at,
                        expires_at=expires_at,
                    )
                    time.sleep(0.3)  # hold the row locked while the other transaction upserts it
                    break
        except Exception as exc:  # noqa: BLE001 - asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=credit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and shards == [0, 0]
    (row,) = LotRollup.objects.all()
    assert (row.shard, row.lots, row.amount, row.remaining) == (0, 40, D(60), D(60))
    totals = selectors.campaign_lot_totals(campaign_id=campaign.pk)
    assert (totals.promised, totals.credited) == (D(60), D(60))
    assert totals == lot_totals(campaign_id=campaign.pk, at=timezone.now())
