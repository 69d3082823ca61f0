"""Start here: the campaign's name and how profiles qualify (past behaviour or live)."""

from django import forms

from promotions.forms.fields import SectionForm
from promotions.models import Campaign

C = Campaign


class StartForm(SectionForm):
    section = "start"
    BEHAVIOR_CHOICES = [("past", "Past behavior / Custom list"), ("live", "Live behavior")]
    LIVE_KIND_CHOICES = [("action", "User actions"), ("inaction", "User inaction within a time frame")]

    name = forms.CharField(label="Campaign name", max_length=200)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    behavior = forms.ChoiceField(label="Qualification", choices=BEHAVIOR_CHOICES, widget=forms.RadioSelect)
    live_kind = forms.ChoiceField(label="Live behavior", choices=LIVE_KIND_CHOICES, widget=forms.RadioSelect)

    always = ("name", "description", "behavior")

    def apply_visibility(self):
        if self.value("behavior") == "live":
            self.keep("live_kind")
        else:
            self.keep()

    @classmethod
    def data_from(cls, campaign):
        live = campaign.is_live
        return {
            "name": campaign.name,
            "description": campaign.description,
            "behavior": "live" if live else "past",
            "live_kind": "inaction" if campaign.qualification == C.Qualification.LIVE_INACTION else "action",
        }

    def values(self) -> dict:
        data = self.cleaned_data
        if data["behavior"] == "live":
            qualification = (
                C.Qualification.LIVE_ACTION if data["live_kind"] == "action" else C.Qualification.LIVE_INACTION
            )
        elif self.campaign.qualification == C.Qualification.CUSTOM_LIST:
            qualification = C.Qualification.CUSTOM_LIST
        else:
            qualification = C.Qualification.PAST_BEHAVIOR
        return {"name": data["name"].strip(), "description": data["description"], "qualification": qualification}
