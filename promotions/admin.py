from django.contrib import admin

from promotions.models import Campaign, CampaignEvent, CampaignRun


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


@admin.register(CampaignRun)
class CampaignRunAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "scheduled_for", "status", "processed", "total", "granted"]
    list_filter = ["status"]
    raw_id_fields = ["campaign"]


@admin.register(CampaignEvent)
class CampaignEventAdmin(admin.ModelAdmin):
    list_display = ["id", "campaign", "action", "actor", "at"]
    list_filter = ["action"]
    raw_id_fields = ["campaign", "actor"]
