from django.urls import path

from coupons import views

app_name = "coupons"

urlpatterns = [
    path("", views.coupon_list, name="coupon_list"),
]

# Public API endpoints, mounted under /api/1/ by config.api_urls.
api_urlpatterns = []
