from django.urls import path

from coupons import views

app_name = "coupons"

urlpatterns = [
    path("", views.coupon_list, name="coupon_list"),
    path("new/", views.coupon_create, name="coupon_create"),
    path("<int:pk>/", views.coupon_detail, name="coupon_detail"),
    path("<int:pk>/edit/", views.coupon_edit, name="coupon_edit"),
    path("<int:pk>/progress/", views.coupon_progress, name="coupon_progress"),
    path("<int:pk>/generate/", views.coupon_generate, name="coupon_generate"),
    path("<int:pk>/import/", views.coupon_import, name="coupon_import"),
    path("<int:pk>/codes.csv", views.coupon_codes_download, name="coupon_codes_download"),
    path("<int:pk>/<slug:action>/", views.coupon_action, name="coupon_action"),
]
