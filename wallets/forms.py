import datetime
from decimal import Decimal

from django import forms
from django.utils import timezone

from accounts import dates
from segments.models import Profile
from wallets.models import Source, Transaction, Wallet

ERR_EXPIRY_VALUE = "Enter how many {unit} after issue the points expire (at least 1)."
ERR_EXPIRY_UNIT = "Choose days, months or years."
# At most 100 years, in the unit chosen (a longer expiry overflows a date when points are credited).
EXPIRY_MAX = {"days": 100 * 366, "months": 1200, "years": 100}
ERR_EXPIRY_TOO_LONG = "At most 100 years: enter at most {max:,} {unit}."
ERR_CALENDAR_YEARS_TOO_FAR = "Enter a calendar year at most 100 years after issue."
ERR_CALENDAR_YEARS = "Enter which calendar year after issue the points expire in (0 = the year of issue)."
ERR_IDENTITY_REQUIRED = "Enter the user's identity."
ERR_IDENTITY_UNKNOWN = "No profile has this identity."
ERR_POINTS_REQUIRED = "Enter the points."
ERR_POINTS_POSITIVE = "Only positive numeric values are allowed."
ERR_POINTS_PLACES = "This wallet allows {places}."
ERR_DESCRIPTION_REQUIRED = "Enter a description."
ERR_PERIOD = "The start date must be on or before the end date."
ERR_POINTS_RANGE = "The minimum points must not exceed the maximum."

ROUNDING_PLACES = [(n, str(n)) for n in range(4)]


class WalletForm(forms.ModelForm):
    """Create a wallet. Editing uses WalletEditForm, where the expiry rule is read-only."""

    rounding_places = forms.TypedChoiceField(choices=ROUNDING_PLACES, coerce=int, initial=0, label="Decimal places")
    # Not required: a form posted without it (an older page, a script) keeps the wallet's value.
    expiry_notice_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        required=False,
        initial=7,
        label="Expiry notice (days)",
        help_text=(
            "Webhook endpoints subscribed to points.expiring get a daily digest of points expiring this soon; 0: none."
        ),
    )

    class Meta:
        model = Wallet
        fields = [
            "name",
            "points_name",
            "expiry_kind",
            "expiry_value",
            "expiry_unit",
            "consumption_order",
            "rounding_places",
            "rounding_mode",
            "expiry_notice_days",
            "is_active",
        ]
        labels = {"expiry_kind": "Points expiry", "expiry_value": "Expiry N", "expiry_unit": "Expiry unit"}
        widgets = {"expiry_value": forms.NumberInput(attrs={"min": 0})}

    def clean_expiry_notice_days(self):
        value = self.cleaned_data.get("expiry_notice_days")
        return self.instance.expiry_notice_days if value is None else value

    def clean(self):
        data = super().clean()
        kind = data.get("expiry_kind")
        value = data.get("expiry_value")
        if kind == Wallet.ExpiryKind.AFTER:
            if not data.get("expiry_unit"):
                self.add_error("expiry_unit", ERR_EXPIRY_UNIT)
            if not value:
                self.add_error("expiry_value", ERR_EXPIRY_VALUE.format(unit=data.get("expiry_unit") or "days"))
            elif data.get("expiry_unit") and value > EXPIRY_MAX.get(data["expiry_unit"], 0):
                unit = data["expiry_unit"]
                self.add_error("expiry_value", ERR_EXPIRY_TOO_LONG.format(max=EXPIRY_MAX[unit], unit=unit))
        elif kind == Wallet.ExpiryKind.CALENDAR_YEAR:
            if value is None:
                self.add_error("expiry_value", ERR_CALENDAR_YEARS)
            elif value > EXPIRY_MAX["years"]:
                self.add_error("expiry_value", ERR_CALENDAR_YEARS_TOO_FAR)
            data["expiry_unit"] = ""
        elif kind == Wallet.ExpiryKind.NEVER:
            data["expiry_value"] = None
            data["expiry_unit"] = ""
        return data


class WalletEditForm(WalletForm):
    """Edit a wallet: the expiry rule is shown but disabled, so a posted value is ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in Wallet.EXPIRY_FIELDS:
            self.fields[name].disabled = True
            self.fields[name].help_text = "The expiry rule cannot change after the wallet is created."

    def clean(self):
        # The disabled fields keep the stored rule; skip the creation-time expiry checks.
        return forms.ModelForm.clean(self)


def places_phrase(places: int) -> str:
    """How many decimals a wallet's points may have, as the form's label and message both say it."""
    if places == 0:
        return "whole points only"
    return f"at most {places} decimal place{'' if places == 1 else 's'}"


class AdjustForm(forms.Form):
    """Adjust points: a manual credit or debit (SPEC 3.1)."""

    kind = forms.ChoiceField(
        label="Adjustment",
        choices=[(Transaction.Kind.CREDIT, "Credit"), (Transaction.Kind.DEBIT, "Debit")],
        widget=forms.RadioSelect,
        initial=Transaction.Kind.CREDIT,
    )
    identity = forms.CharField(
        label="User identity", max_length=256, error_messages={"required": ERR_IDENTITY_REQUIRED}
    )
    points = forms.DecimalField(
        max_digits=18,
        decimal_places=3,
        error_messages={
            "required": ERR_POINTS_REQUIRED,
            "invalid": ERR_POINTS_POSITIVE,
            "max_digits": ERR_POINTS_POSITIVE,
            "max_whole_digits": ERR_POINTS_POSITIVE,
        },
    )
    description = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}), error_messages={"required": ERR_DESCRIPTION_REQUIRED}
    )

    def __init__(self, *args, wallet: Wallet, **kwargs):
        super().__init__(*args, **kwargs)
        self.wallet = wallet
        self.fields["points"].widget.attrs.update({"min": "0", "step": "any"})
        # One rule, said the same way in the label and the message: the wallet's own places
        # (the field's 3 are only the storage's limit).
        self.places_phrase = places_phrase(wallet.rounding_places)
        self.fields["points"].error_messages["max_decimal_places"] = ERR_POINTS_PLACES.format(places=self.places_phrase)

    def clean_identity(self):
        identity = self.cleaned_data["identity"].strip()
        profile = Profile.objects.filter(identity=identity).first()
        if profile is None:
            raise forms.ValidationError(ERR_IDENTITY_UNKNOWN)
        self.profile = profile
        return identity

    def clean_points(self):
        points = self.cleaned_data["points"]
        if points <= 0:
            raise forms.ValidationError(ERR_POINTS_POSITIVE)
        places = self.wallet.rounding_places
        if points != points.quantize(Decimal(1).scaleb(-places), rounding="ROUND_DOWN"):
            raise forms.ValidationError(ERR_POINTS_PLACES.format(places=places_phrase(places)))
        return points

    def clean_description(self):
        description = self.cleaned_data["description"].strip()
        if not description:
            raise forms.ValidationError(ERR_DESCRIPTION_REQUIRED)
        return description


class TransactionFilterForm(forms.Form):
    """Filters of the transactions table; every field optional, dates in the account timezone."""

    start = dates.DateField(required=False, label="From")
    end = dates.DateField(required=False, label="To")
    kind = forms.ChoiceField(required=False, label="Type", choices=[("", "Any type"), *Transaction.Kind.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Source.choices])
    points_min = forms.DecimalField(required=False, min_value=0, decimal_places=3, label="Points from")
    points_max = forms.DecimalField(required=False, min_value=0, decimal_places=3, label="Points to")
    q = forms.CharField(required=False, max_length=256, label="Identity or txn ID")

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", ERR_PERIOD)
        low, high = data.get("points_min"), data.get("points_max")
        if low is not None and high is not None and low > high:
            self.add_error("points_max", ERR_POINTS_RANGE)
        return data

    def search_kwargs(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        # Whole days in the account timezone.
        since = dates.day_start(data["start"]) if data.get("start") else None
        until = dates.day_end(data["end"]) if data.get("end") else None
        return {
            "since": since,
            "until": until,
            "kind": data.get("kind", ""),
            "source": data.get("source", ""),
            "points_min": data.get("points_min"),
            "points_max": data.get("points_max"),
            "query": (data.get("q") or "").strip(),
        }


PERIODS = [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days")]
DEFAULT_DAYS = 30


ERR_CHART_RANGE = "Choose a period of at most 366 days, with the start on or before the end."


class ChartPeriodForm(forms.Form):
    """The chart's period: a preset number of days up to today, or a custom start and end."""

    days = forms.TypedChoiceField(
        choices=PERIODS, coerce=int, required=False, empty_value=DEFAULT_DAYS, initial=DEFAULT_DAYS, label="Period"
    )
    start = dates.DateField(required=False, label="From")
    end = dates.DateField(required=False, label="To")

    def __init__(self, data=None, *args, **kwargs):
        if data is not None and not data.get("days"):
            # The select shows the period the chart shows: the default, not the first option.
            data = data.copy()
            data["days"] = str(DEFAULT_DAYS)
        super().__init__(data, *args, **kwargs)

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and not (start <= end and (end - start).days < 366):
            self.add_error("end", ERR_CHART_RANGE)
        return data

    def period(self) -> tuple[datetime.date, datetime.date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        if data.get("start") and data.get("end"):
            return data["start"], data["end"]
        days = data.get("days") or DEFAULT_DAYS
        return today - datetime.timedelta(days=days - 1), today
