from django.core.management.base import BaseCommand, CommandError

from config import api


class Command(BaseCommand):
    help = "Create an API key for the public API and print '<id> <secret>' on one line."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'Mobile app backend'.")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name:
            raise CommandError("NAME must not be empty.")
        key, secret = api.api_key_create(name=name)
        self.stdout.write(f"{key.key_id} {secret}")
