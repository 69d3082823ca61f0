"""A saved campaign re-checked section by section with the same rules as the builder's forms: after
an earlier section changes, at publish, and on a copy (the clock and the catalogue move meanwhile)."""

from django.utils import timezone

from accounts.account import account_tzinfo
from promotions.models import Campaign
from promotions.rules import start, what, when, who
from promotions.rules.errors import Errors


def campaign_section_errors(campaign: Campaign, section: str) -> Errors:
    """What the builder would say of the section as saved, keyed by field (empty: still valid).

    A saved value was parsed by the section's form (its type, range and length hold); what can
    change after the save is checked here: the clock, the catalogue, and the earlier sections."""
    with timezone.override(account_tzinfo()):
        now = timezone.now()
        if section == "start":
            return start.stored_errors(campaign)
        if section == "who":
            return who.stored_errors(campaign)
        if section == "what":
            return what.stored_errors(campaign, now=now)
        if section == "when":
            return when.stored_errors(campaign, now=now)
    raise ValueError(f"unknown section {section!r}")


def campaign_sections_invalid(campaign: Campaign, sections) -> list[str]:
    """The sections among `sections` whose saved values no longer hold."""
    return [section for section in sections if campaign_section_errors(campaign, section)]
