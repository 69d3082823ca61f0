"""The builder's section forms (SPEC 4): they parse what the marketer posts and display the section;
the campaign rules they apply in `clean` are plain functions in promotions/rules/.

Each form knows which fields apply to the choices made so far (the saved campaign plus what
the request posts) and removes the others, so a field the screen does not offer is neither
rendered nor accepted: a crafted POST for it is ignored (the value saved is the empty one),
and a choice the screen does not list is an invalid choice. `values()` returns every model
field the section owns, hidden ones set to empty, so a saved section never keeps a stale
setting that no longer applies.
"""

from promotions.forms.fields import SectionForm, name_field_messages
from promotions.forms.filter_rows import refresh_goal_filters, refresh_trigger_filters
from promotions.forms.formatting import as_form_data, querydict_as_initial, wallet_expiry_defaults
from promotions.forms.sections import SECTION_FORMS, section_form_from_campaign
from promotions.forms.start import StartForm
from promotions.forms.what import WhatForm
from promotions.forms.when import WhenForm
from promotions.forms.who import WhoForm

__all__ = [
    "SECTION_FORMS",
    "SectionForm",
    "StartForm",
    "WhatForm",
    "WhenForm",
    "WhoForm",
    "as_form_data",
    "name_field_messages",
    "querydict_as_initial",
    "refresh_goal_filters",
    "refresh_trigger_filters",
    "section_form_from_campaign",
    "wallet_expiry_defaults",
]
