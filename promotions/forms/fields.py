"""What every builder section form shares: the base form (fields offered by the choices so far) and
messages that name their field ("Enter the campaign name", never "This field is required.")."""

from decimal import Decimal

from django import forms

from promotions.models import Campaign
from promotions.rules.errors import MSG_NOT_OFFERED, Errors, field_name

TRUE_VALUES = ("on", "true", "True", "1")


def positive_decimal(label, *, required=True):
    return forms.DecimalField(
        label=label, max_digits=14, decimal_places=3, min_value=Decimal("0.001"), required=required
    )


def _label(field) -> str:
    if getattr(field, "message_name", ""):
        return field.message_name
    label = str(field.label or "").split(" (")[0].strip()
    label = label[:1].lower() + label[1:] if label and not label[:2].isupper() else label
    # "the campaign name", but "event A" and "trigger event 2" need no article.
    last = label.rsplit(" ", 1)[-1]
    return label if last.isdigit() or (len(last) == 1 and last.isupper()) else f"the {label}"


def name_field_messages(field, name: str = "") -> None:
    """Messages that name the field ("Enter the campaign name", "Choose the wallet") instead of
    Django's anonymous "This field is required."; points minimums read as points."""
    if not field.label:
        return
    if field_name(name):
        field.message_name = field_name(name)
    label = _label(field)
    choice = isinstance(field, forms.ChoiceField | forms.ModelChoiceField)
    if field.error_messages.get("required") == forms.Field.default_error_messages["required"]:
        field.error_messages["required"] = f"{'Choose' if choice else 'Enter'} {label}."
    if isinstance(field, forms.DecimalField) and field.min_value == Decimal("0.001"):
        field.error_messages["min_value"] = f"{label[:1].upper()}{label[1:]} must be more than 0."
    elif isinstance(field, forms.IntegerField) and field.min_value == 1:
        field.error_messages["min_value"] = f"{label[:1].upper()}{label[1:]} must be at least 1."
    if isinstance(field, forms.IntegerField) and field.max_value is not None:
        field.error_messages["max_value"] = f"{label[:1].upper()}{label[1:]} must be at most {field.max_value:,}."
    if isinstance(field, forms.DecimalField):
        field.error_messages["invalid"] = f"Enter {label} as a number."
    elif isinstance(field, forms.IntegerField):
        field.error_messages["invalid"] = f"Enter {label} as a whole number."
    default_invalid = (forms.ChoiceField, forms.ModelChoiceField, forms.MultipleChoiceField)
    if choice and any(
        field.error_messages.get("invalid_choice") == cls.default_error_messages.get("invalid_choice")
        for cls in default_invalid
    ):
        field.error_messages["invalid_choice"] = MSG_NOT_OFFERED.format(label=label)


class SectionForm(forms.Form):
    section = ""

    def __init__(self, data=None, *, campaign: Campaign, initial=None, **kwargs):
        self.campaign = campaign
        super().__init__(data, initial=initial, **kwargs)
        self.notes: dict = {}
        self.apply_visibility()
        for name, field in self.fields.items():
            name_field_messages(field, name)

    # The current value of a controlling field: posted when bound, else the initial one.
    def value(self, name: str) -> str:
        raw = self.data.get(name, "") if self.is_bound else (self.initial or {}).get(name, "")
        if isinstance(raw, list):
            raw = raw[-1] if raw else ""
        return "" if raw is None else str(raw)

    def flag(self, name: str) -> bool:
        return self.value(name) in TRUE_VALUES

    def keep(self, *names: str) -> None:
        """Remove every optional field not in `names` (fields listed in `always` stay)."""
        for name in list(self.fields):
            if name not in names and name not in self.always:
                del self.fields[name]

    always: tuple[str, ...] = ()

    def apply_visibility(self) -> None:
        """Each section removes the fields its current choices do not offer."""

    def add_errors(self, errors: Errors) -> None:
        """Put a rule's errors (promotions/rules/) on the fields they name."""
        for name, messages in errors.items():
            for message in messages:
                self.add_error(name, message)

    def cleaned(self, name, default=None):
        return self.cleaned_data.get(name, default) if name in self.fields else default

    @classmethod
    def data_from(cls, campaign: Campaign) -> dict:
        """What the campaign has saved for this section, as a POST would carry it."""
        return {}
