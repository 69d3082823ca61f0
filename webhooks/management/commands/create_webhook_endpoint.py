from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from webhooks import services


class Command(BaseCommand):
    help = "Register a webhook endpoint; prints `<id> <secret>` (the secret is shown only here)."

    def add_arguments(self, parser):
        parser.add_argument("url")
        parser.add_argument(
            "--events", required=True, help="Comma-separated event types, e.g. reward.granted,wallet.transaction"
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--batch-size", type=int, default=1, help="Events per POST (1 = one event per POST)")

    def handle(self, *args, url, events, description, batch_size, **options):
        try:
            endpoint, secret = services.endpoint_create(
                url=url, event_types=events.split(","), description=description, batch_size=batch_size
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"{endpoint.pk} {secret}")
