"""The partner area (/partner/): what a partner user may see, scoped to their partner."""

from django.urls import path

from vouchers import partner_views

app_name = "partner"

urlpatterns = [
    path("", partner_views.partner_home, name="partner_home"),
]
