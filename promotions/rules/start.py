"""Start here: a campaign has a name; the rest of the section is a choice among fixed options."""

from promotions.models import Campaign
from promotions.rules.errors import Errors, check_present


def stored_errors(campaign: Campaign) -> Errors:
    """The saved Start section re-checked (the qualification is a stored choice, always valid)."""
    errors: Errors = {}
    check_present(errors, "name", (campaign.name or "").strip())
    return errors
