from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """Account-wide configuration: the account timezone, API keys, roles, health."""

    name = "config"
    label = "config"
    verbose_name = "Account"
    default_auto_field = "django.db.models.BigAutoField"
