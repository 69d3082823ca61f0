from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import access
from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "accounts/login/",
        access.public(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("accounts/logout/", access.public(auth_views.LogoutView.as_view()), name="logout"),
    path("admin/", admin.site.urls),
    path("campaigns/", include("promotions.urls")),
    path("audience/", include("segments.urls")),
    path("wallets/", include("wallets.urls")),
    path("coupons/", include("coupons.urls")),
    path("vouchers/", include("vouchers.urls")),
    path("partner/", include("vouchers.partner_urls")),
    path("notifications/", include("webhooks.urls")),
    path("api/1/", include(("config.api_urls", "ninja"), namespace="api")),
]

handler403 = "config.errors.forbidden"
handler404 = "config.errors.not_found"
