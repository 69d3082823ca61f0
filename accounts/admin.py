from django import forms
from django.contrib import admin, messages

from accounts import api
from accounts.models import Account, ApiKey, ApiScope, IdempotencyRecord, WorkerHeartbeat, timezone_choices


class AccountForm(forms.ModelForm):
    timezone = forms.ChoiceField(choices=timezone_choices)

    class Meta:
        model = Account
        fields = ["name", "timezone"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ["name", "timezone", "updated_at"]

    def has_add_permission(self, request):
        return not Account.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        # Nothing ticked to begin with: a key gets only what the admin chose for it.
        error_messages={"required": "Choose at least one scope: the key may do only what its scopes allow."},
        help_text="What the key may do; a call outside its scopes gets 403. Tick only what the integration needs.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "key_id", "scope_list", "created_at", "created_by", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "created_at", "created_by", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["name", "scopes"]
        return ["name", "key_id", "scope_list", "created_at", "created_by", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        # Scopes are chosen when the key is made: widening a handed-out key is a new key.
        return [*self.readonly_fields, "scope_list"] if obj else self.readonly_fields

    @admin.display(description="Scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        key, secret = api.api_key_create(name=obj.name, created_by=request.user, scopes=form.cleaned_data["scopes"])
        obj.pk, obj.key_id = key.pk, key.key_id
        self.message_user(
            request,
            f"API key created. Key id: {key.key_id} — secret: {secret} — copy the secret now: it is shown only once.",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead, so the key's history stays

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            api.api_key_revoke(key=key)
        self.message_user(request, "Selected API keys revoked; requests using them now get 401.")


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at"]
    search_fields = ["hostname"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    """Read only: a stored first response is what a retry gets back."""

    list_display = ["id", "endpoint", "key", "api_key", "response_status", "created_at"]
    list_filter = ["endpoint", "response_status"]
    search_fields = ["key"]
    list_select_related = ["api_key"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
