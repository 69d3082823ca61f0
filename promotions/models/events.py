"""The campaign's history: who did what to it, and when (SPEC 1)."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from promotions.models.campaign import Campaign


class CampaignEvent(models.Model):
    """History: who did what to a campaign, and when (SPEC 1)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        SAVED = "saved", "Saved section"
        PUBLISHED = "published", "Published"
        PAUSED = "paused", "Paused"
        RESUMED = "resumed", "Resumed"
        STOPPED = "stopped", "Stopped"
        DUPLICATED = "duplicated", "Duplicated"
        ARCHIVED = "archived", "Archived"
        RETURNED_TO_DRAFT = "returned_to_draft", "Returned to draft"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="history")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when the action came through the public API: the key that did it (actor is then empty).
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    at = models.DateTimeField(default=timezone.now)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["campaign", "-at"], name="campaign_event_recent")]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.action} at {self.at:%Y-%m-%d %H:%M}"
