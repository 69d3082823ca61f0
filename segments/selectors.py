from django.db.models import QuerySet

from segments.models import Event, Profile


def profile_search(*, query: str = "") -> QuerySet[Profile]:
    profiles = Profile.objects.all()
    if query:
        profiles = profiles.filter(identity__icontains=query)
    return profiles.order_by("-last_seen", "pk")


def profile_recent_events(*, profile: Profile, limit: int = 50) -> QuerySet[Event]:
    return profile.events.order_by("-occurred_at", "-pk")[:limit]
