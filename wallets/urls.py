from django.urls import path

from wallets import api, views

app_name = "wallets"

urlpatterns = [
    path("", views.wallet_list, name="wallet_list"),
    path("new/", views.wallet_create, name="wallet_create"),
    path("<int:pk>/", views.wallet_detail, name="wallet_detail"),
    path("<int:pk>/edit/", views.wallet_edit, name="wallet_edit"),
    path("<int:pk>/transactions/", views.transaction_list, name="transaction_list"),
    path("<int:pk>/adjust/", views.wallet_adjust, name="wallet_adjust"),
]

# Public API endpoints, mounted under /api/1/ by config.api_urls.
api_urlpatterns = [
    path("promo/wallets", api.wallets_get, name="api_wallets"),
    path("promo/transactions", api.transactions_get, name="api_transactions"),
    path("promo/wallets/transactions", api.wallet_transactions_post, name="api_wallet_transactions"),
]
