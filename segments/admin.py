from django.contrib import admin

from segments.models import Event, Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["identity", "first_seen", "last_seen"]
    list_filter = ["first_seen", "last_seen"]
    search_fields = ["identity"]
    date_hierarchy = "last_seen"


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["name", "profile", "occurred_at", "received_at"]
    list_filter = ["name", "occurred_at"]
    search_fields = ["name", "profile__identity"]
    raw_id_fields = ["profile"]
    list_select_related = ["profile"]
    show_full_result_count = False
