"""Recount the campaign chart's rollup from the grants, in the account timezone.

Run it after changing the account timezone: until then the chart counts the profiles of
windows whose quarters were counted in the old zone from the grants (exact, but slower).
"""

from django.core.management.base import BaseCommand
from django.db import connection, transaction


class Command(BaseCommand):
    help = "Recount promotions_grantrollup from promotions_grant (all campaigns, or --campaign ids)."

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, action="append", help="a campaign id (repeatable)")

    def handle(self, *args, campaign=None, **options):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT promotions_grant_rollup_rebuild(%s::bigint[])", [campaign])
        self.stdout.write("Chart rollup recounted.")
