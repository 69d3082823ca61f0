"""Recount the wallet pages' rollups from the ledger and the lots.

The rollups are kept by triggers in the writing transaction (enabled ALWAYS, so replication roles
fire them too); they drift only when rows change with the triggers disabled (`pg_restore
--disable-triggers`, or `ALTER TABLE … DISABLE TRIGGER` for a hand-made repair). This puts them
back: the ledger rollup (wallet totals and chart) from wallets_transaction, the lot rollup (a
campaign's points by bucket) from wallets_lot.
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction


class Command(BaseCommand):
    help = "Recount wallets_ledgerrollup (all wallets, or --wallet ids) and wallets_lotrollup from their tables."

    def add_arguments(self, parser):
        parser.add_argument("--wallet", type=int, action="append", help="a wallet id (repeatable); default: all")

    def handle(self, *args, wallet=None, **options):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT wallets_ledger_rollup_rebuild(%s::bigint[])", [wallet])
            if wallet is None:
                cursor.execute("SELECT wallets_lot_rollup_rebuild()")
        scope = f"wallet{'s' if len(wallet) > 1 else ''} {', '.join(map(str, wallet))}" if wallet else "every wallet"
        lots = "" if wallet else " and the campaigns' lot rollup"
        self.stdout.write(f"Ledger rollup recounted for {scope}{lots}.")
