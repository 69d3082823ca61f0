"""The partner area (/partner/): what a partner user may see, scoped to their partner."""

from django.urls import path

from vouchers import partner_views

app_name = "partner"

urlpatterns = [
    path("", partner_views.partner_home, name="partner_home"),
    path("lists/new/", partner_views.partner_list_create, name="partner_list_create"),
    path("lists/<int:pk>/", partner_views.partner_list_detail, name="partner_list_detail"),
    path("lists/<int:pk>/upload/", partner_views.partner_list_upload, name="partner_list_upload"),
    path("uploads/<int:pk>/", partner_views.upload_detail, name="upload_detail"),
    path("uploads/<int:pk>/confirm/", partner_views.upload_confirm, name="upload_confirm"),
    path("uploads/<int:pk>/cancel/", partner_views.upload_cancel, name="upload_cancel"),
    path("uploads/<int:pk>/original/", partner_views.upload_original, name="upload_original"),
    path("uploads/<int:pk>/errors/", partner_views.upload_errors, name="upload_errors"),
]
