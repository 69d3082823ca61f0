"""The builder's section forms by section name, and a form bound to what a campaign has saved."""

from promotions.forms.fields import SectionForm
from promotions.forms.formatting import as_form_data
from promotions.forms.start import StartForm
from promotions.forms.what import WhatForm
from promotions.forms.when import WhenForm
from promotions.forms.who import WhoForm
from promotions.models import Campaign

SECTION_FORMS = {"start": StartForm, "who": WhoForm, "what": WhatForm, "when": WhenForm}


def section_form_from_campaign(campaign: Campaign, section: str) -> SectionForm:
    """The section's form bound to what the campaign has saved (what the builder would show on a re-save;
    promotions/rules/campaign.py re-checks a saved campaign without it)."""
    form_class = SECTION_FORMS[section]
    return form_class(as_form_data(form_class.data_from(campaign)), campaign=campaign)
