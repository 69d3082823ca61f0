import importlib
import os

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import demo

# Each app may provide `<app>.demo.load(stdout)`; they run in this order (later apps use
# what earlier ones created) and each must be safe to run again.
DEMO_APPS = ["segments", "wallets", "coupons", "vouchers", "promotions"]


class Command(BaseCommand):
    help = "Create the demo users (admin, marketer, partner) and demo data; safe to run twice."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT") or 8000),
            help="The port `make run` serves on, for the printed URL (default: $PORT or 8000).",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            passwords = demo.load(self.stdout)
        for app in DEMO_APPS:
            try:
                module = importlib.import_module(f"{app}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app}.demo":
                    raise
                continue
            with transaction.atomic():
                module.load(self.stdout)
        url = f"http://127.0.0.1:{options['port']}/accounts/login/"
        self.stdout.write(self.style.SUCCESS(f"Demo logins ({url}):"))
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<9} {password}")
