from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed webhooks to customers' servers and alerts to people (SPEC 12), account-wide.

    Layer 2, just above `accounts` (it uses the outbox and roles) and `core`, and below every other app:
    segments, wallets, coupons, vouchers and promotions record events here (or their migrations
    install triggers that write here); this app imports none of them (tests/test_architecture.py).
    """

    name = "webhooks"
    verbose_name = "Webhooks and alerts"
    default_auto_field = "django.db.models.BigAutoField"
