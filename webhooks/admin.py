"""Webhook endpoints beside the API keys in Django admin: the secret is shown once (on create and
on rotation), the delivery log per endpoint (attempts with status, latency and the start of the
answer) and Resend on deliveries."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from webhooks import services
from webhooks.models import EventType, Notification, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "batch_size", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            services.url_check(url, resolve=settings.WEBHOOK_BLOCK_PRIVATE)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "types", "batch_size", "is_active", "failing_since", "disabled_reason", "log"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["created_at", "failing_since", "disabled_reason", "previous_secret_expires_at"]
    actions = ["rotate_secret", "enable"]

    @admin.display(description="Event types")
    def types(self, obj):
        return ", ".join(obj.event_types)

    @admin.display(description="Delivery log")
    def log(self, obj):
        url = reverse("admin:webhooks_webhookattempt_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">Attempts</a>', url)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        endpoint, secret = services.endpoint_create(
            url=obj.url,
            event_types=form.cleaned_data["event_types"],
            description=obj.description,
            batch_size=obj.batch_size,
        )
        obj.pk = endpoint.pk
        self.message_user(
            request,
            f"Webhook endpoint created. Signing secret: {secret} — copy it now: it is shown only once.",
            messages.WARNING,
        )

    def has_delete_permission(self, request, obj=None):
        return False  # untick Active instead: its deliveries and log stay readable

    @admin.action(description="Rotate the signing secret (the old one stays valid for 24 h)")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            secret = services.endpoint_rotate_secret(endpoint=endpoint)
            self.message_user(
                request, f"{endpoint.url}: new signing secret {secret} — shown only once.", messages.WARNING
            )

    @admin.action(description="Enable (clears the failure state)")
    def enable(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint", "events", "status_code", "ok", "latency_ms", "response_start"]
    list_filter = ["endpoint", "ok"]
    list_select_related = ["endpoint"]

    @admin.display(description="Events")
    def events(self, obj):
        return len(obj.event_ids)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "event_type", "endpoint", "status", "attempts", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "endpoint"]
    list_select_related = ["event", "endpoint"]
    actions = ["resend"]
    show_full_result_count = False

    @admin.display(description="Type")
    def event_type(self, obj):
        return obj.event.type

    @admin.action(description="Resend")
    def resend(self, request, queryset):
        n = services.delivery_resend(deliveries=list(queryset))
        self.message_user(request, f"{n} deliveries will be sent again within seconds.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at", "emailed_at"]
    list_filter = ["kind"]
