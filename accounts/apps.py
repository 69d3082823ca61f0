from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The account-wide models (the account and its timezone, API keys, idempotency records, rate
    limits, worker heartbeats, the outbox) and the API's plumbing every app's endpoints use."""

    name = "accounts"
    label = "accounts"
    verbose_name = "Account"
    default_auto_field = "django.db.models.BigAutoField"
