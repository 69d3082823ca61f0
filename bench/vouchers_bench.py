"""Vouchers benchmark: upload + process N codes into one list, then voucher_assign_bulk to N profiles.

Usage (PostgreSQL, a scratch database — it creates a partner, a list, codes and profiles):
    createdb -h 127.0.0.1 -U postgres promo_bench_vouchers
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/promo_bench_vouchers
    .venv/bin/python manage.py migrate && .venv/bin/python bench/vouchers_bench.py 1000000
    dropdb -h 127.0.0.1 -U postgres promo_bench_vouchers

The upload goes through the partner's path: voucher_upload_create (the CSV is stored),
voucher_upload_validate (COPY into a staging table, duplicate checks, the report), then
voucher_upload_process (one all-or-nothing transaction, INSERT … SELECT per 50,000 rows,
progress on a side connection). Assignment is voucher_assign_bulk (chunks of 5,000, one
SKIP LOCKED claim-and-insert statement per chunk, each chunk its own transaction).

Results (PostgreSQL 15, 2 cores, 24 GiB, other engineers' tests sharing the cores):
  2026-11-23, N=100,000 (2.4 MB CSV), load average ~7 on 2 cores:
    validate 2.3 s; process 15.6 s (6,404 codes/s); assign 100,000 in 26.0 s (3,853 codes/s).
  Same day, before the assignment fixes (load ~5): assign 100,000 in 47.3 s, and the
  per-chunk cost grew with every chunk (quadratic): the anti-join against the list's
  assignments and the profile join were planned as full scans, and each chunk re-read the
  pool entries of codes the same transaction had already taken.
  Session 2, N=1,000,000 (23.8 MB CSV), load 7.3-8.9, shared claim (codes/pool.py) and FK
  checks set-based: validate 31.0 s; process 106.9 s (9,355 codes/s); assign 1,000,000 in
  212.1 s (4,715 codes/s). A quiet-machine figure is still to be measured.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Uploaded CSVs and error files go to a scratch folder, never into var/.
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="vouchers-bench-"))

import django  # noqa: E402

django.setup()

from django.core.files.base import ContentFile  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from promotions.models import Campaign  # noqa: E402
from segments.models import SAMPLE_BUCKETS, Profile  # noqa: E402
from vouchers import selectors, services  # noqa: E402
from vouchers.models import Partner, VoucherUpload  # noqa: E402


def main(n: int) -> None:
    assert connection.vendor == "postgresql", "run the bench on PostgreSQL"
    tag = f"bench-{int(time.time())}"
    partner, _ = Partner.objects.get_or_create(name=f"Bench partner {tag}")
    voucher_list = services.voucher_list_create(
        partner=partner,
        tag=tag,
        name=tag,
        expires_on=selectors.account_today() + timezone.timedelta(days=30),
    )
    data = "".join(f"{tag.upper()}-{i:07d}\n" for i in range(n)).encode()

    started = time.perf_counter()
    upload = services.voucher_upload_create(
        voucher_list=voucher_list, file=ContentFile(data, name="bench.csv"), uploaded_by=None
    )
    upload = services.voucher_upload_validate(upload=upload)
    validated = time.perf_counter() - started
    assert upload.status == VoucherUpload.Status.AWAITING_CONFIRMATION, upload.error_message
    VoucherUpload.objects.filter(pk=upload.pk).update(
        status=VoucherUpload.Status.IN_PROGRESS,
        confirmed_at=timezone.now(),
        progress_total=upload.rows_read + upload.codes_valid,
    )
    upload.refresh_from_db()
    started = time.perf_counter()
    upload = services.voucher_upload_process(upload=upload)
    processed = time.perf_counter() - started
    assert upload.status == VoucherUpload.Status.COMPLETED, upload.error_message
    assert upload.codes_accepted == n

    with connection.cursor() as cursor:
        cursor.execute(
            # The bench only needs distinct profiles; the sample bucket is spread, not crc32'd.
            "INSERT INTO segments_profile (identity, properties, first_seen, last_seen, sample_bucket) "
            "SELECT %s || '-' || g, '{}'::jsonb, now(), now(), mod(g, %s) FROM generate_series(1, %s) g",
            [tag, SAMPLE_BUCKETS, n],
        )
        cursor.execute("ANALYZE segments_profile")
    ids = list(Profile.objects.filter(identity__startswith=f"{tag}-").values_list("pk", flat=True))
    started = time.perf_counter()
    campaign = Campaign.objects.create(name=tag, status=Campaign.Status.RUNNING, voucher_list=voucher_list)
    given = services.voucher_assign_bulk(
        voucher_list=voucher_list, profile_ids=ids, campaign=campaign, occurrence="run:1"
    )
    assigned = time.perf_counter() - started
    assert len(given) == n
    voucher_list.refresh_from_db()
    assert voucher_list.codes_left == 0
    size_mb = len(data) / (1024 * 1024)
    print(
        f"N={n:,} ({size_mb:.1f} MB CSV): validate {validated:.1f} s; process {processed:.1f} s "
        f"({n / processed:,.0f} codes/s); upload total {validated + processed:.1f} s; "
        f"assign {len(given):,} in {assigned:.1f} s ({len(given) / assigned:,.0f} codes/s)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
