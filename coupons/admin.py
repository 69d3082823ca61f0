from django.contrib import admin

from core.pagination import BigTableAdmin
from coupons.models import CodeAssignment, CodeBatch, Coupon, CouponCode, CouponEvent, Redemption


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "status", "code", "codes_total", "codes_assigned", "codes_redeemed", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name", "code"]
    # Counters move only through the services, in the same transaction as their rows.
    readonly_fields = ["codes_total", "codes_assigned", "codes_redeemed", "created_by", "created_at", "updated_at"]


@admin.register(CouponCode)
class CouponCodeAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ["code", "coupon", "assigned_at"]
    list_filter = [("assigned_at", admin.EmptyFieldListFilter)]
    search_fields = ["=code"]
    list_select_related = ["coupon"]
    raw_id_fields = ["coupon"]

    def has_add_permission(self, request):
        return False  # written by the services only (assignment, redemption, imports)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CodeAssignment)
class CodeAssignmentAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ["code", "coupon", "profile", "campaign", "occurrence", "assigned_at", "redeem_count"]
    search_fields = ["=code", "=profile__identity"]
    list_select_related = ["coupon", "profile", "campaign"]
    raw_id_fields = ["coupon", "coupon_code", "profile", "campaign"]

    def has_add_permission(self, request):
        return False  # written by the services only (assignment, redemption, imports)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Redemption)
class RedemptionAdmin(BigTableAdmin, admin.ModelAdmin):
    list_display = ["code", "kind", "coupon", "profile", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=code", "=profile__identity"]
    list_select_related = ["coupon", "profile"]
    raw_id_fields = ["assignment", "coupon", "profile"]

    def has_add_permission(self, request):
        return False  # written by the services only (assignment, redemption, imports)

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CodeBatch)
class CodeBatchAdmin(admin.ModelAdmin):
    list_display = ["coupon", "source", "status", "requested", "done", "created_at", "finished_at"]
    list_filter = ["source", "status"]
    list_select_related = ["coupon"]
    raw_id_fields = ["coupon"]


@admin.register(CouponEvent)
class CouponEventAdmin(admin.ModelAdmin):
    list_display = ["coupon", "action", "message", "actor", "created_at"]
    list_filter = ["action"]
    list_select_related = ["coupon", "actor"]
    raw_id_fields = ["coupon"]

    def has_add_permission(self, request):
        return False  # written by the services only (assignment, redemption, imports)

    def has_change_permission(self, request, obj=None):
        return False
