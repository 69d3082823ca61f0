from django.conf import settings
from django.db import models
from django.db.models import Q


class Wallet(models.Model):
    """A points wallet (SPEC 3.1). The expiry rule cannot change after creation."""

    class ExpiryKind(models.TextChoices):
        NEVER = "never", "Never"
        AFTER = "after", "After a period"
        CALENDAR_YEAR = "calendar_year", "End of the Nth calendar year"

    class ExpiryUnit(models.TextChoices):
        DAYS = "days", "Days"
        MONTHS = "months", "Months"
        YEARS = "years", "Years"

    class ConsumptionOrder(models.TextChoices):
        EARLIEST_EXPIRY = "earliest_expiry", "Earliest expiry first"
        EARLIEST_ISSUANCE = "earliest_issuance", "Earliest issuance first"

    class RoundingMode(models.TextChoices):
        UP = "up", "Round up"
        DOWN = "down", "Round down"

    name = models.CharField(max_length=200, unique=True)
    points_name = models.CharField(max_length=60, help_text='What users call the points, e.g. "Supercoins".')
    expiry_kind = models.CharField(max_length=20, choices=ExpiryKind.choices, default=ExpiryKind.NEVER)
    # AFTER: N units after issue; CALENDAR_YEAR: end of the Nth calendar year after issue.
    expiry_value = models.PositiveIntegerField(null=True, blank=True)
    expiry_unit = models.CharField(max_length=10, choices=ExpiryUnit.choices, blank=True)
    consumption_order = models.CharField(
        max_length=20, choices=ConsumptionOrder.choices, default=ConsumptionOrder.EARLIEST_EXPIRY
    )
    rounding_places = models.PositiveSmallIntegerField(default=0)
    rounding_mode = models.CharField(max_length=4, choices=RoundingMode.choices, default=RoundingMode.DOWN)
    is_active = models.BooleanField("active", default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(rounding_places__lte=3), name="wallet_rounding_places_0_3"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.points_name})"
