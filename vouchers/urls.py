from django.urls import path

from vouchers import views

app_name = "vouchers"

urlpatterns = [
    path("", views.voucher_list, name="voucher_list"),
]

# Public API endpoints, mounted under /api/1/ by config.api_urls.
api_urlpatterns = []
