"""Promotions' answers to what the apps below it ask by signal (they never import promotions:
tests/test_architecture.py). Connected in promotions/apps.py."""

from django.dispatch import receiver

from promotions.models import Campaign
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments import services as segment_services


@receiver(segment_services.custom_list_users, dispatch_uid="promotions.custom_list_users")
def campaigns_using_custom_list(sender, *, custom_list, **kwargs) -> list[str]:
    """Scheduled or running campaigns using the list: as their audience, in their rules or
    past-behaviour filter (in / not in the list), or through a segment whose rules use it."""
    active = [Campaign.Status.SCHEDULED, Campaign.Status.RUNNING]
    segments = segment_selectors.segments_using_custom_list(custom_list.pk)
    names = []
    for name, list_id, segment_id, tree, past_filter in (
        Campaign.objects.filter(status__in=active)
        .order_by("name", "pk")
        .values_list("name", "custom_list_id", "segment_id", "rules", "past_filter")
    ):
        lists = segment_rules.referenced_custom_lists(tree) | segment_rules.referenced_custom_lists(past_filter)
        segment_ids = (
            segment_rules.referenced_segments(tree) | segment_rules.referenced_segments(past_filter) | {segment_id}
        )
        through = sorted(segments[s] for s in segment_ids if s in segments)
        if list_id == custom_list.pk or custom_list.pk in lists:
            names.append(name)
        elif through:
            names.append(f"{name} through segment {', '.join(through)}")
    return names
