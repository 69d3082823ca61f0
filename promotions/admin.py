from django.contrib import admin

from promotions.models import Campaign, CampaignEvent, CampaignRun, CampaignRunPartition


class CampaignRunInline(admin.TabularInline):
    model = CampaignRun
    extra = 0
    readonly_fields = ["scheduled_for", "status", "total", "processed", "granted", "started_at", "finished_at"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "status", "qualification", "reward_type", "starts_at", "created_by"]
    list_filter = ["status", "qualification", "reward_type"]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    raw_id_fields = ["segment", "custom_list", "wallet", "coupon", "partner", "voucher_list", "created_by"]
    inlines = [CampaignRunInline]


class CampaignRunPartitionInline(admin.TabularInline):
    """A run's partitions: where each stands (a running run's counters are theirs until it ends)."""

    model = CampaignRunPartition
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "index",
        "start",
        "end",
        "cursor",
        "chunks",
        "processed",
        "granted",
        "rewarded",
        "done",
        "error",
        "heartbeat_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(CampaignRun)
class CampaignRunAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "scheduled_for", "status", "processed", "total", "granted"]
    list_filter = ["status"]
    raw_id_fields = ["campaign"]
    inlines = [CampaignRunPartitionInline]

    def has_add_permission(self, request):
        return False  # runs are planned by the campaign's schedule (promotions.engine), never by hand


@admin.register(CampaignEvent)
class CampaignEventAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "action", "actor", "at"]
    list_filter = ["action"]
    raw_id_fields = ["campaign", "actor"]
