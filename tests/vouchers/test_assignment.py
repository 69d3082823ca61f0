import threading

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promotions.models import Campaign
from segments.models import Profile
from tests.segments.factories import ProfileFactory
from tests.vouchers.factories import VoucherListFactory
from tests.vouchers.helpers import load_codes
from vouchers import selectors, services
from vouchers.models import VoucherAssignment, VoucherCode, VoucherList


def _invariants(voucher_list):
    voucher_list.refresh_from_db()
    assignments = VoucherAssignment.objects.filter(voucher_list=voucher_list)
    codes = list(assignments.values_list("code_id", flat=True))
    assert len(codes) == len(set(codes))
    keys = list(assignments.values_list("campaign_id", "profile_id", "occurrence"))
    assert len(keys) == len(set(keys))
    assert voucher_list.codes_assigned == len(codes)
    assert VoucherCode.objects.filter(voucher_list=voucher_list, assigned_at__isnull=False).count() == len(codes)


@pytest.mark.django_db
def test_voucher_assign_gives_one_code_and_is_idempotent():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["A1", "A2"])
    profile = ProfileFactory()
    campaign = Campaign.objects.create(name="C")
    first = services.voucher_assign(voucher_list=voucher_list, profile=profile, campaign=campaign, occurrence="run:1")
    again = services.voucher_assign(voucher_list=voucher_list, profile=profile, campaign=campaign, occurrence="run:1")
    assert first.pk == again.pk
    assert first.code.code == "A1"
    assert selectors.voucher_codes_left(voucher_list=voucher_list) == 1
    _invariants(voucher_list)


@pytest.mark.django_db
def test_bulk_assign_stops_when_codes_run_out_and_skips_unusable_lists():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["A1", "A2"])
    profiles = [ProfileFactory().pk for _ in range(3)]
    given_codes = services.voucher_assign_bulk(
        voucher_list=voucher_list, profile_ids=profiles, campaign=None, occurrence="run:1"
    )
    assert [code for _pid, code in given_codes] == ["A1", "A2"]
    assert selectors.voucher_codes_left(voucher_list=voucher_list) == 0
    other = VoucherListFactory(status=VoucherList.Status.PAUSED)
    assert services.voucher_assign_bulk(voucher_list=other, profile_ids=profiles, campaign=None, occurrence="x") == []
    _invariants(voucher_list)


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pool=st.integers(min_value=0, max_value=12),
    batches=st.lists(st.lists(st.integers(min_value=0, max_value=9), max_size=8), max_size=4),
)
def test_bulk_assign_never_gives_a_code_twice(pool, batches):
    voucher_list = VoucherListFactory()
    if pool:
        load_codes(voucher_list, [f"C{n}" for n in range(pool)])
    profiles = [ProfileFactory().pk for _ in range(10)]
    campaign = Campaign.objects.create(name="H")
    for batch in batches:
        services.voucher_assign_bulk(
            voucher_list=voucher_list, profile_ids=[profiles[i] for i in batch], campaign=campaign, occurrence="run:1"
        )
    _invariants(voucher_list)
    distinct = len({i for batch in batches for i in batch})
    assert VoucherAssignment.objects.filter(voucher_list=voucher_list).count() == min(pool, distinct)


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_give_a_code_twice_nor_a_profile_two_codes():
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, [f"C{n}" for n in range(150)])
    campaigns = [Campaign.objects.create(name="A"), Campaign.objects.create(name="B")]
    profile_ids = list(Profile.objects.bulk_create([Profile(identity=f"p{n}") for n in range(100)]))
    profile_ids = [p.pk for p in profile_ids]
    errors = []
    barrier = threading.Barrier(6)

    def worker(n):
        try:
            barrier.wait()
            campaign = campaigns[n % 2]
            if n < 3:
                services.voucher_assign_bulk(
                    voucher_list=voucher_list, profile_ids=profile_ids, campaign=campaign, occurrence="run:1"
                )
            else:
                for pid in profile_ids[::3]:
                    services.voucher_assign(
                        voucher_list=voucher_list, profile=Profile(pk=pid), campaign=campaign, occurrence="run:1"
                    )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _invariants(voucher_list)
    # 150 codes, 2 campaigns × 100 profiles wanted: never more than the pool, each code once.
    # (SKIP LOCKED lets a worker come up short while others hold codes; none is given twice.)
    given_count = VoucherAssignment.objects.filter(voucher_list=voucher_list).count()
    assert 100 <= given_count <= 150


@pytest.mark.django_db
def test_api_returns_the_profiles_vouchers_with_list_expiry(api_client):
    voucher_list = VoucherListFactory(tag="summer")
    load_codes(voucher_list, ["A1"])
    profile = ProfileFactory(identity="amy@example.com")
    services.voucher_assign(voucher_list=voucher_list, profile=profile, campaign=None, occurrence="api")
    body = api_client.get("/api/1/promo/vouchers", {"identity": "amy@example.com"}).json()
    assert body["status"] == "success"
    record = body["records"][0]
    assert (record["voucherCode"], record["listTag"]) == ("A1", "summer")
    assert record["listExpiryDate"] == voucher_list.expires_on.isoformat()
    assert isinstance(record["listExpiry"], int)
    missing = api_client.get("/api/1/promo/vouchers", {"identity": "nobody"})
    assert missing.status_code == 404
    assert api_client.get("/api/1/promo/vouchers").json()["error"] == "identity is required."


@pytest.mark.django_db(transaction=True)
def test_a_code_skipped_while_another_transaction_held_it_is_given_later_in_the_same_run(monkeypatch):
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, ["C1", "C2", "C3", "C4"])
    profiles = [ProfileFactory().pk for _ in range(4)]
    monkeypatch.setattr(services.assignment, "ASSIGN_CHUNK", 2)
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT id FROM vouchers_vouchercode WHERE code = 'C1' FOR UPDATE")
    original = services.assignment._assign_chunk
    calls = []

    def chunk(**kwargs):
        result = original(**kwargs)
        calls.append((kwargs["after"], [code for _pid, _occurrence, code in result[0]]))
        if len(calls) == 1:
            holder.rollback()  # the other transaction lets C1 go after the first chunk
        return result

    monkeypatch.setattr(services.assignment, "_assign_chunk", chunk)
    try:
        given_codes = services.voucher_assign_bulk(
            voucher_list=voucher_list, profile_ids=profiles, campaign=None, occurrence="run:1"
        )
    finally:
        holder.close()
    first_after = calls[1][0]
    # The retry reads the pool from its start (after=None), behind the list's cursor.
    assert calls == [(0, ["C2", "C3"]), (first_after, ["C4"]), (None, ["C1"])]
    assert sorted(code for _pid, code in given_codes) == ["C1", "C2", "C3", "C4"]
    _invariants(voucher_list)


@pytest.mark.django_db(transaction=True)
def test_concurrent_live_assignments_without_a_campaign_give_a_profile_one_code():
    # "No campaign" is one value in the once-per-occurrence key (COALESCE), so racing
    # callers for the same profile cannot both insert.
    voucher_list = VoucherListFactory()
    load_codes(voucher_list, [f"L{n}" for n in range(20)])
    profile = ProfileFactory()
    barrier = threading.Barrier(6)
    errors = []

    def worker():
        try:
            barrier.wait()
            services.voucher_assign_bulk(
                voucher_list=voucher_list, profile_ids=[profile.pk], campaign=None, occurrence="api"
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert VoucherAssignment.objects.filter(voucher_list=voucher_list, profile=profile).count() == 1
    _invariants(voucher_list)
