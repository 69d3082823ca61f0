import re

import django_filters
from django import forms

from accounts import dates
from coupons import codegen, imports
from coupons.models import CodeBatch, Coupon

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{3,64}$")
AFFIX_RE = re.compile(r"^[A-Za-z0-9_-]{0,20}$")
MAX_GENERATE = 1_000_000

ERR_CODE_REQUIRED = "Enter the coupon code customers type, e.g. WELCOME100."
ERR_CODE_SYNTAX = "Use 3–64 letters, digits, “-” or “_”, without spaces."
ERR_CODE_TAKEN = "Another single-code coupon that is not archived already uses this code."
ERR_EXPIRY_PAIR = "Give both a number and a unit for the expiry, or leave both empty for “never”."
ERR_ENDS_BEFORE_START = "The end must be after the start."
# An expiry of at most 100 years, in the unit chosen (a longer one overflows a date).
EXPIRY_MAX = {"minutes": 100 * 366 * 24 * 60, "hours": 100 * 366 * 24, "days": 100 * 366, "weeks": 100 * 366 // 7}
ERR_EXPIRY_TOO_LONG = "At most 100 years: enter at most {max:,} {unit}."
ERR_AFFIX = "Use at most 20 letters, digits, “-” or “_”."

# Which kind-specific fields each kind shows; the server drops and ignores the others.
KIND_FIELDS = {
    Coupon.Kind.SINGLE: ["code", "total_limit", "per_user_limit"],
    Coupon.Kind.BULK: ["low_stock_threshold"],
}
ALL_KIND_FIELDS = {f for fields in KIND_FIELDS.values() for f in fields}


class CouponForm(forms.ModelForm):
    """Create or edit a coupon; the fields shown and validated depend on its kind."""

    class Meta:
        model = Coupon
        fields = [
            "kind",
            "name",
            "code",
            "description",
            "terms",
            "discount_label",
            "starts_at",
            "ends_at",
            "expiry_after_value",
            "expiry_after_unit",
            "total_limit",
            "per_user_limit",
            "low_stock_threshold",
        ]
        labels = {
            "expiry_after_value": "Expires after",
            "expiry_after_unit": "Unit",
            "total_limit": "Total redemptions",
            "per_user_limit": "Redemptions per user",
            "low_stock_threshold": "Low-stock alert below",
            "starts_at": "Starts",
            "ends_at": "Ends",
        }
        help_texts = {
            "expiry_after_value": "After the code becomes redeemable; empty = never expires.",
            "total_limit": "Across all users; empty = unlimited. Also caps how many copies campaigns hand out.",
            "per_user_limit": "How often one profile may redeem each copy it is given; empty = unlimited.",
            "low_stock_threshold": "Flag the series when fewer unassigned codes remain; empty = no alert.",
            "starts_at": "Empty = when activated.",
            "ends_at": "Empty = never ends.",
        }
        # Typed and shown as the app shows dates ("4 Dec 2026 18:30"), in the account timezone.
        field_classes = {"starts_at": dates.DateTimeField, "ends_at": dates.DateTimeField}
        widgets = {
            "kind": forms.RadioSelect,
            "description": forms.Textarea(attrs={"rows": 3}),
            "terms": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        if editing:
            self.kind = self.instance.kind
            del self.fields["kind"]
        else:
            self.kind = kind if kind in Coupon.Kind.values else Coupon.Kind.SINGLE
            self.fields["kind"].initial = self.kind
            self.fields["kind"].choices = Coupon.Kind.choices  # no blank "---------" card
        for name in ALL_KIND_FIELDS - set(KIND_FIELDS[self.kind]):
            del self.fields[name]
        if "code" in self.fields:
            self.fields["code"].required = False  # checked in clean_code with our own message

    @property
    def kind_label(self) -> str:
        return Coupon.Kind(self.kind).label

    def clean_kind(self):
        return self.kind

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip()
        if not code:
            raise forms.ValidationError(ERR_CODE_REQUIRED)
        if not CODE_RE.match(code):
            raise forms.ValidationError(ERR_CODE_SYNTAX)
        clash = Coupon.objects.filter(kind=Coupon.Kind.SINGLE, code__iexact=code).exclude(status=Coupon.Status.ARCHIVED)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError(ERR_CODE_TAKEN)
        return code

    def clean(self):
        data = super().clean()
        value, unit = data.get("expiry_after_value"), data.get("expiry_after_unit")
        if bool(value) != bool(unit):
            self.add_error("expiry_after_value", ERR_EXPIRY_PAIR)
        elif value and value > EXPIRY_MAX.get(unit, 0):
            self.add_error("expiry_after_value", ERR_EXPIRY_TOO_LONG.format(max=EXPIRY_MAX.get(unit, 0), unit=unit))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", ERR_ENDS_BEFORE_START)
        return data


class GenerateForm(forms.Form):
    code_format = forms.ChoiceField(label="Format", choices=CodeBatch.Format.choices, initial="alphanumeric")
    length = forms.IntegerField(min_value=codegen.MIN_LENGTH, max_value=codegen.MAX_LENGTH, initial=8)
    prefix = forms.CharField(required=False, max_length=20)
    suffix = forms.CharField(required=False, max_length=20)
    count = forms.IntegerField(label="Number of codes", min_value=1, max_value=MAX_GENERATE, initial=1000)

    def clean_prefix(self):
        value = self.cleaned_data["prefix"].strip()
        if not AFFIX_RE.match(value):
            raise forms.ValidationError(ERR_AFFIX)
        return value

    def clean_suffix(self):
        value = self.cleaned_data["suffix"].strip()
        if not AFFIX_RE.match(value):
            raise forms.ValidationError(ERR_AFFIX)
        return value


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="One column of codes, UTF-8, up to 50 MB and 1,000,000 codes; a first line “code” is a header.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # Refuse by declared size before anything reads the body into memory.
        if upload.size > imports.MAX_BYTES:
            raise forms.ValidationError(imports.ERR_TOO_LARGE.format(size_mb=upload.size / 1024 / 1024))
        return upload


class CouponFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Coupon.Kind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(choices=Coupon.Status.choices, empty_label="Any status")
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name")

    class Meta:
        model = Coupon
        fields = ["q", "kind", "status"]
