from django.urls import path

from vouchers import views

app_name = "vouchers"

urlpatterns = [
    path("", views.voucher_list, name="voucher_list"),
    path("new/", views.voucher_list_create, name="voucher_list_create"),
    path("<int:pk>/", views.voucher_list_detail, name="voucher_list_detail"),
    path("<int:pk>/edit/", views.voucher_list_edit, name="voucher_list_edit"),
    path("<int:pk>/pause/", views.voucher_list_action, {"action": "pause"}, name="voucher_list_pause"),
    path("<int:pk>/activate/", views.voucher_list_action, {"action": "activate"}, name="voucher_list_activate"),
    path("<int:pk>/archive/", views.voucher_list_action, {"action": "archive"}, name="voucher_list_archive"),
    path("<int:pk>/upload/", views.voucher_list_upload, name="voucher_list_upload"),
    path("<int:pk>/codes.csv", views.voucher_list_codes_csv, name="voucher_list_codes_csv"),
    path("uploads/<int:pk>/", views.upload_detail, name="upload_detail"),
    path("uploads/<int:pk>/confirm/", views.upload_confirm, name="upload_confirm"),
    path("uploads/<int:pk>/cancel/", views.upload_cancel, name="upload_cancel"),
    path("uploads/<int:pk>/original/", views.upload_original, name="upload_original"),
    path("uploads/<int:pk>/errors/", views.upload_errors, name="upload_errors"),
]
