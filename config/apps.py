from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """The project's wiring: settings, URLs, Celery, health and error pages, the demo command.

    It has no models: its migrations are the history of the account-wide models, which live in
    `accounts` since issue 22 (same tables; config 0006 hands them over)."""

    name = "config"
    label = "config"
    verbose_name = "Configuration"
    default_auto_field = "django.db.models.BigAutoField"
