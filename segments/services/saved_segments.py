"""Saving, sizing and deleting a segment (its rules checked by segments.rules)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from segments import rules, selectors
from segments.models import Segment

ERR_SEGMENT_IN_USE = "This segment is used by another segment ({names}); remove it there first."


def segment_save(*, segment: Segment | None = None, name: str, description: str, rule_tree: dict, actor) -> Segment:
    """Create or update a segment after validating its rule tree (cycles included)."""
    normalised = rules.validate_rules(rule_tree, segment_id=segment.pk if segment else None)
    with transaction.atomic():
        if segment is None:
            segment = Segment(created_by=actor)
        segment.name = name
        segment.description = description
        segment.rules = normalised
        segment.audience_size = None
        segment.audience_computed_at = None
        segment.save()
    return segment


def segment_refresh_size(*, segment: Segment) -> Segment:
    """Compute the exact audience size now and store it with the time."""
    size = selectors.audience_count(rules=segment.rules)
    Segment.objects.filter(pk=segment.pk).update(audience_size=size, audience_computed_at=timezone.now())
    segment.refresh_from_db()
    return segment


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment unless another segment refers to it."""
    users = [s.name for s in Segment.objects.exclude(pk=segment.pk) if segment.pk in rules.referenced_segments(s.rules)]
    if users:
        raise ValidationError(ERR_SEGMENT_IN_USE.format(names=", ".join(sorted(users))))
    segment.delete()
