"""Promotions' answers to what the apps below it ask by signal (they never import promotions:
tests/test_architecture.py). Connected in promotions/apps.py."""

from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.dispatch import receiver

from promotions.models import Campaign
from segments import rules as segment_rules
from segments import selectors as segment_selectors
from segments import services as segment_services
from vouchers import signals as voucher_signals


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


@receiver(voucher_signals.voucher_list_campaigns, dispatch_uid="promotions.voucher_list_campaigns")
def campaigns_rewarding_from_voucher_list(sender, *, voucher_list, statuses=None, limit=None, **kwargs) -> list:
    """Campaigns that reward from the voucher list (of `statuses` when given), newest first."""
    campaigns = Campaign.objects.filter(voucher_list=voucher_list)
    if statuses:
        campaigns = campaigns.filter(status__in=statuses)
    campaigns = campaigns.order_by("-created_at")
    return list(campaigns if limit is None else campaigns[:limit])


@receiver(voucher_signals.voucher_list_campaign_count, dispatch_uid="promotions.voucher_list_campaign_count")
def campaigns_per_voucher_list(sender, **kwargs):
    """The number of campaigns rewarding from the voucher list OuterRef("pk"), as an expression."""
    counts = (
        Campaign.objects.filter(voucher_list=OuterRef("pk"))
        .order_by()
        .values("voucher_list")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)
