from django.contrib import admin

from core.pagination import BigTableAdmin
from vouchers.models import (
    DiscardedVoucherList,
    Partner,
    PartnerUser,
    VoucherAssignment,
    VoucherCode,
    VoucherList,
    VoucherListEvent,
    VoucherUpload,
)


class PartnerUserInline(admin.TabularInline):
    model = PartnerUser
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [PartnerUserInline]


@admin.register(PartnerUser)
class PartnerUserAdmin(admin.ModelAdmin):
    list_display = ["user", "partner"]
    list_filter = ["partner"]
    search_fields = ["user__username", "partner__name"]
    raw_id_fields = ["user"]


@admin.register(VoucherList)
class VoucherListAdmin(admin.ModelAdmin):
    # Lists, codes and uploads change only through the services (screens and tasks), so the
    # admin shows them read-only: a hand edit here would bypass counters and the history.
    list_display = ["tag", "partner", "name", "status", "expires_on", "codes_total", "codes_assigned", "updated_at"]
    list_filter = ["status", "partner"]
    search_fields = ["tag", "name", "partner__name"]
    list_select_related = ["partner"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(VoucherUpload)
class VoucherUploadAdmin(ReadOnlyAdmin):
    list_display = [
        "file_name",
        "voucher_list",
        "kind",
        "status",
        "codes_accepted",
        "rows_read",
        "error_count",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["file_name", "voucher_list__tag"]
    list_select_related = ["voucher_list__partner"]


@admin.register(VoucherCode)
class VoucherCodeAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["code", "voucher_list", "assigned_at", "list_archived"]
    search_fields = ["=code"]
    list_select_related = ["voucher_list__partner"]


@admin.register(VoucherAssignment)
class VoucherAssignmentAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["code", "voucher_list", "profile", "campaign", "occurrence", "assigned_at"]
    search_fields = ["=code__code", "=profile__identity"]
    list_select_related = ["code", "voucher_list__partner", "profile", "campaign"]


@admin.register(VoucherListEvent)
class VoucherListEventAdmin(ReadOnlyAdmin):
    list_display = ["voucher_list", "action", "actor", "message", "created_at"]
    list_filter = ["action"]
    list_select_related = ["voucher_list__partner", "actor"]


@admin.register(DiscardedVoucherList)
class DiscardedVoucherListAdmin(ReadOnlyAdmin):
    list_display = ["partner", "tag", "file_name", "outcome", "actor", "created_at"]
    list_filter = ["outcome"]
    list_select_related = ["partner", "actor"]
