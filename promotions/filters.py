import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from accounts import dates
from promotions.models import Campaign

SORT_FIELDS = (
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("qualification", "type"),
    ("reward_type", "reward"),
    ("starts_at", "start"),
    ("ends_at", "end"),
    ("created_by__username", "creator"),
    ("rewarded_now", "rewarded"),  # selectors.campaign_list_queryset
)


def _creators(request):
    users = get_user_model().objects.filter(pk__in=Campaign.objects.values("created_by"))
    return users.order_by("first_name", "last_name", "username")


def display_name(user) -> str:
    """The one name a person goes by on every page: full name, else username (as the columns show)."""
    return user.get_full_name() or user.username


class DayFilter(django_filters.Filter):
    """A date typed as the app shows dates (accounts/dates.py)."""

    field_class = dates.DateField


class CampaignFilterForm(forms.Form):
    def clean(self):
        cleaned = super().clean()
        start, until = cleaned.get("start_after"), cleaned.get("start_before")
        if start and until and until < start:
            raise forms.ValidationError(
                f"Start until ({dates.date_display(until)}) is before Start from ({dates.date_display(start)})."
            )
        return cleaned


class CampaignFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search by name or id")
    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices, empty_label="Any status")
    type = django_filters.ChoiceFilter(
        field_name="qualification", choices=Campaign.Qualification.choices, empty_label="Any type", label="Type"
    )
    reward = django_filters.ChoiceFilter(
        field_name="reward_type", choices=Campaign.RewardType.choices, empty_label="Any reward", label="Reward"
    )
    creator = django_filters.ModelChoiceFilter(
        field_name="created_by", queryset=_creators, empty_label="Anyone", label="Created by"
    )
    # Whole days in the account timezone, typed as the app shows dates (accounts/dates.py).
    start_after = DayFilter(method="start_from", label="Start from")
    start_before = DayFilter(method="start_until", label="Start until")
    sort = django_filters.OrderingFilter(fields=SORT_FIELDS, label="Sort")

    class Meta:
        model = Campaign
        fields = []
        form = CampaignFilterForm

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.form.fields["creator"].label_from_instance = display_name

    def start_from(self, queryset, name, value):
        return queryset.filter(starts_at__gte=dates.day_start(value)) if value else queryset

    def start_until(self, queryset, name, value):
        return queryset.filter(starts_at__lt=dates.day_end(value)) if value else queryset

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(name__icontains=value)
        if value.lstrip("#").isdigit() and len(value) < 18:
            condition |= Q(pk=int(value.lstrip("#")))
        return queryset.filter(condition)

    @property
    def qs(self):
        queryset = super().qs
        # Archived campaigns leave the list unless asked for by status.
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.exclude(status=Campaign.Status.ARCHIVED)
        if not self.form.cleaned_data.get("sort"):
            queryset = queryset.order_by("-created_at", "-pk")
        return queryset
