from django.urls import path

from wallets import views

app_name = "wallets"

urlpatterns = [
    path("", views.wallet_list, name="wallet_list"),
]

# Public API endpoints, mounted under /api/1/ by config.api_urls.
api_urlpatterns = []
