from django import forms

from accounts import dates
from core.db import INT_MAX
from vouchers import services, upload_files
from vouchers.models import Partner, VoucherList

FILE_HELP = "One column of codes, UTF-8 CSV, at most 50 MB and 1,000,000 codes. A first row “code” is a header."


class CodesFileField(forms.FileField):
    """A CSV file whose size is checked before anything reads it (SPEC 8)."""

    def clean(self, data, initial=None):
        data = super().clean(data, initial)
        if data is not None and data.size > upload_files.MAX_UPLOAD_BYTES:
            raise forms.ValidationError(upload_files.file_too_large_message(data.size))
        if data is not None and not data.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError("Upload a .csv file.")
        return data


class VoucherListCreateForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.filter(is_active=True), empty_label="Choose a partner")
    tag = forms.CharField(
        label="List tag",
        max_length=100,
        help_text="Unique for the partner; stored in lowercase; no spaces. Example: summer-sale",
    )
    name = forms.CharField(max_length=200, help_text="Shown to users in communications.")
    description = forms.CharField(widget=forms.Textarea, required=False, help_text="Usage conditions.")
    expires_on = dates.DateField(label="Expiry date", help_text="The last day codes are given out (account timezone).")
    low_stock_threshold = forms.IntegerField(
        label="Low-stock threshold",
        min_value=0,
        max_value=INT_MAX,
        initial=100,
        help_text="Flag the list when this many codes are left.",
    )
    file = CodesFileField(label="Codes file", help_text=FILE_HELP)

    def __init__(self, *args, partner: Partner | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fixed_partner = partner
        if partner is not None:
            del self.fields["partner"]

    def clean_tag(self):
        try:
            return services.voucher_list_tag_normalise(self.cleaned_data["tag"])
        except services.VoucherError as exc:
            raise forms.ValidationError(exc.messages) from None

    def clean(self):
        cleaned = super().clean()
        partner = self.fixed_partner or cleaned.get("partner")
        tag = cleaned.get("tag")
        if partner and tag and VoucherList.objects.filter(partner=partner, tag=tag).exists():
            self.add_error("tag", services.ERR_TAG_TAKEN.format(tag=tag))
        return cleaned


class VoucherListEditForm(forms.ModelForm):
    class Meta:
        model = VoucherList
        fields = ["name", "description", "expires_on", "low_stock_threshold"]
        labels = {"expires_on": "Expiry date", "low_stock_threshold": "Low-stock threshold"}
        help_texts = {"expires_on": "Can only be moved later."}
        field_classes = {"expires_on": dates.DateField}


class UploadForm(forms.Form):
    file = CodesFileField(label="Codes file", help_text=FILE_HELP)


class VoucherListFilterForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.all(), required=False, empty_label="All partners")
    status = forms.ChoiceField(choices=[("", "All statuses"), *VoucherList.Status.choices], required=False)


class CodeFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=64, label="Code")
    state = forms.ChoiceField(
        choices=[("", "All codes"), ("available", "Available"), ("assigned", "Distributed")],
        required=False,
        label="Show",
    )
