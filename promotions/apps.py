from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from promotions import receivers  # noqa: F401 (connects its signal receivers)
