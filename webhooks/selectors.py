from webhooks.models import Notification


def notifications_for(*, user, limit: int = 50):
    """The person's latest notifications, unread first."""
    return Notification.objects.filter(user=user).order_by("-created_at", "-pk")[:limit]


def unread_count(*, user) -> int:
    return Notification.objects.filter(user=user, read_at=None).count()
