from django.contrib import admin

from core.pagination import BigTableAdmin
from wallets import services
from wallets.forms import WalletForm
from wallets.models import Consumption, Lot, Transaction, Wallet, WalletChange


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    form = WalletForm
    list_display = [
        "id",
        "name",
        "points_name",
        "expiry_kind",
        "consumption_order",
        "is_active",
        "created_at",
        "created_by",
    ]
    list_filter = ["is_active", "expiry_kind", "consumption_order", "rounding_mode"]
    search_fields = ["name", "points_name"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The expiry rule is fixed once the wallet exists (SPEC 3.1).
        if obj is not None:
            return [*self.readonly_fields, *Wallet.EXPIRY_FIELDS]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        if change:
            fields = {k: v for k, v in fields.items() if k not in Wallet.EXPIRY_FIELDS}
            updated = services.wallet_update(wallet=obj, actor=request.user, **fields)
            obj.__dict__.update(updated.__dict__)
        else:
            data = {name: form.cleaned_data[name] for name in form.cleaned_data if name not in self.readonly_fields}
            created = services.wallet_create(actor=request.user, **data)
            obj.pk = created.pk
            obj.created_at = created.created_at

    def has_delete_permission(self, request, obj=None):
        return False  # lots and the ledger refer to it; deactivate instead


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger rows are written by services only; the admin can look, never change."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Lot)
class LotAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = [
        "id",
        "wallet",
        "profile",
        "amount",
        "remaining",
        "issued_at",
        "activates_at",
        "expires_at",
        "source",
    ]
    list_filter = ["wallet", "source"]
    search_fields = ["=profile__identity", "=id", "=occurrence"]  # exact keys: no substring scan
    list_select_related = ["wallet", "profile"]
    raw_id_fields = ["profile", "campaign"]


@admin.register(Transaction)
class TransactionAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["id", "wallet", "profile", "kind", "source", "points", "created_at", "actor"]
    list_filter = ["wallet", "kind", "source"]
    search_fields = ["=profile__identity", "=id", "=idempotency_key", "=order_id"]
    list_select_related = ["wallet", "profile", "actor"]
    raw_id_fields = ["profile", "lot"]


@admin.register(Consumption)
class ConsumptionAdmin(BigTableAdmin, ReadOnlyAdmin):
    list_display = ["id", "transaction", "lot", "points"]
    list_filter = ["lot__wallet"]
    search_fields = ["=transaction__id", "=lot__id"]
    raw_id_fields = ["transaction", "lot"]


@admin.register(WalletChange)
class WalletChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "wallet", "action", "actor", "created_at"]
    list_filter = ["action", "wallet"]
    search_fields = ["wallet__name", "actor__username"]
    list_select_related = ["wallet", "actor"]
