from django.contrib import admin

from core.pagination import EstimatedPaginator
from segments import selectors
from segments.models import Event, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["identity", "first_seen", "last_seen"]
    list_filter = ["first_seen", "last_seen"]
    search_fields = ["identity"]
    date_hierarchy = "last_seen"
    paginator = EstimatedPaginator  # "about N" instead of counting every profile per view
    show_full_result_count = False


class EventNameFilter(admin.SimpleListFilter):
    """The event names from the catalogue, not a DISTINCT over every event."""

    title = "name"
    parameter_name = "name"

    def lookups(self, request, model_admin):
        return [(name, name) for name in selectors.event_names()]

    def queryset(self, request, queryset):
        return queryset.filter(name=self.value()) if self.value() else queryset


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Ten million events: newest stored first (the primary key serves the order; no index has
    the time alone), counts estimated, names from the catalogue, and search by an exact
    identity or event name (index lookups, not a substring scan of every event)."""

    list_display = ["id", "name", "profile", "occurred_at", "received_at"]
    list_filter = [EventNameFilter, "occurred_at"]
    search_fields = ["name"]
    search_help_text = "An exact identity or event name."
    ordering = ["-id"]
    sortable_by = ["id"]
    raw_id_fields = ["profile"]
    list_select_related = ["profile"]
    paginator = EstimatedPaginator
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        profile_id = Profile.objects.filter(identity=term).values_list("id", flat=True).first()
        if profile_id is not None:
            return queryset.filter(profile_id=profile_id), False
        return queryset.filter(name=term), False
