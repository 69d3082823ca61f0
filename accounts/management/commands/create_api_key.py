from django.core.management.base import BaseCommand, CommandError

from accounts import api
from accounts.models import ApiScope


class Command(BaseCommand):
    help = "Create an API key for the public API and print '<id> <secret>' on one line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'Mobile app backend'.")
        parser.add_argument(
            "--scopes",
            nargs="+",
            metavar="SCOPE",
            help=f"What the key may do (default: everything). Scopes: {', '.join(ApiScope.values)}. "
            "Separate them with spaces or commas.",
        )

    def handle(self, *args, name: str, scopes=None, **options):
        name = name.strip()
        if not name:
            raise CommandError("NAME must not be empty.")
        if scopes is not None:
            scopes = [s.strip() for part in scopes for s in part.split(",") if s.strip()]
            if not scopes:
                raise CommandError("--scopes needs at least one scope.")
        try:
            key, secret = api.api_key_create(name=name, scopes=scopes)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{key.key_id} {secret}")
