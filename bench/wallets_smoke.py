"""Hand-run smoke check of the wallet jobs and bulk credit on the embedded SQLite database
(`make run`'s default), which the PostgreSQL test suite never exercises:

    rm -rf /tmp/sq && PROMO_VAR_DIR=/tmp/sq .venv/bin/python manage.py migrate
    PROMO_VAR_DIR=/tmp/sq .venv/bin/python manage.py setup_demo
    PROMO_VAR_DIR=/tmp/sq .venv/bin/python bench/wallets_smoke.py

Prints each step and exits non-zero on the first wrong result. Works on PostgreSQL too.
Last run 2026-11-23 on SQLite: every step OK (bulk 50 credited, again 0, activate 50 / 0,
expire 50 / 0, lot balances equal the ledger's).
"""

import datetime
import os
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from promotions.models import Campaign  # noqa: E402
from segments.models import Profile  # noqa: E402
from wallets import selectors, services  # noqa: E402
from wallets.models import Wallet  # noqa: E402


def check(label, got, expected):
    print(f"{label:<28} {got}")
    if got != expected:
        sys.exit(f"FAIL {label}: expected {expected}, got {got}")


def main():
    wallet = Wallet.objects.get(name="Supercoins")
    campaign = Campaign.objects.create(name=f"Smoke {timezone.now():%Y%m%d%H%M%S%f}")
    ids = list(Profile.objects.order_by("pk").values_list("pk", flat=True)[:50])
    now = timezone.now()
    print(f"database: {connection.vendor}, {len(ids)} profiles")
    activates, expires = now + datetime.timedelta(seconds=1), now + datetime.timedelta(seconds=2)
    credit = {
        "wallet": wallet,
        "campaign": campaign,
        "occurrence": "smoke",
        "activates_at": activates,
        "expires_at": expires,
    }
    check(
        "bulk credit",
        len(services.wallet_credit_bulk(profile_ids=[*ids, 10**12], points=Decimal(5), **credit)),
        len(ids),
    )
    per_profile = {pid: Decimal(5) for pid in ids}
    check("bulk credit again", len(services.wallet_credit_bulk(profile_ids=ids, points=per_profile, **credit)), 0)
    at = now + datetime.timedelta(seconds=1, milliseconds=500)
    check("activate", services.lots_activate_due(now=at) >= len(ids), True)
    check("activate again", services.lots_activate_due(now=at), 0)
    at = now + datetime.timedelta(seconds=3)
    check("expire", services.lots_expire_due(now=at) >= len(ids), True)
    check("expire again", services.lots_expire_due(now=at), 0)
    profile = Profile.objects.get(pk=ids[0])
    lots = selectors.wallet_balances(profile=profile, wallet=wallet, at=at)
    check("lot balances == ledger", lots == selectors.ledger_balances(profile=profile, wallet=wallet), True)
    print("OK")


if __name__ == "__main__":
    main()
